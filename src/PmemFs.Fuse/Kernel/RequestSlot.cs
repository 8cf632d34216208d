using System.Runtime.InteropServices;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// What a reply needs of one request of the kernel transport, in native memory so that a
/// <see cref="FuseRequest"/> handle can point at it: unique, the descriptor to answer on, the
/// caller, and the fuse_file_info values handed to the file system. A worker reuses its slot for
/// the next request unless the request is still unanswered when the handler returns (parked,
/// answered later from another thread); then the slot is left to that reply, which frees it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RequestSlot
{
    public ulong Unique;
    public ulong NodeId;
    public int Fd;
    public Opcode Opcode;
    public int State;
    private readonly int _pad;
    public FuseContext Context;
    public FuseFileInfo File;
    public FuseFileInfo File2;

    public const int InHandler = 0, Replied = 1, Detached = 2;

    /// <summary>A FuseRequest handle is the slot address with bit 0 set (libfuse's fuse_req_t is malloc'ed, so even).</summary>
    public const nint KernelTag = 1;

    public static unsafe RequestSlot* Allocate(int fd)
    {
        var slot = (RequestSlot*)NativeMemory.AllocZeroed((nuint)sizeof(RequestSlot));
        slot->Fd = fd;
        return slot;
    }

    public static unsafe nint Handle(RequestSlot* slot) => (nint)slot | KernelTag;

    public static unsafe RequestSlot* FromHandle(nint handle) => (RequestSlot*)(handle & ~KernelTag);

    /// <summary>The request is answered: frees the slot if its worker has moved on.</summary>
    public static unsafe void Complete(RequestSlot* slot)
    {
        if (Interrupts.Pending) Interrupts.Forget(slot->Unique);
        if (Interlocked.Exchange(ref slot->State, Replied) == Detached) NativeMemory.Free(slot);
    }

    /// <summary>
    /// After the handler returned without answering: true if the reply is still to come (the
    /// worker must take a new slot), false if another thread answered meanwhile.
    /// </summary>
    public static unsafe bool Detach(RequestSlot* slot) =>
        Interlocked.CompareExchange(ref slot->State, Detached, InHandler) == InHandler;
}

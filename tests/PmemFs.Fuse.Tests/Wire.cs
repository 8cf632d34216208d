using System.Runtime.InteropServices;
using PmemFs.Fuse.Kernel;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Tests;

/// <summary>
/// A fake /dev/fuse: a SOCK_SEQPACKET socket pair (one writev = one message, as one reply is one
/// write to /dev/fuse). Requests are built here and handed to the dispatcher; replies are read back.
/// </summary>
internal sealed unsafe partial class Wire : IDisposable
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int socketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    public readonly int DaemonFd, KernelFd;
    public readonly KernelChannel Channel;
    public readonly RequestDispatcher Dispatcher;
    private readonly byte* _buffer = (byte*)NativeMemory.AllocZeroed(1 << 20);
    public RequestSlot* Slot;
    private ulong _unique = 100;

    public Wire(LowLevelFileSystem fs, bool initialized = true)
    {
        int* sv = stackalloc int[2];
        if (socketpair(1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */, 0, sv) != 0) throw new InvalidOperationException("socketpair");
        DaemonFd = sv[0];
        KernelFd = sv[1];
        Channel = new KernelChannel(DaemonFd) { Initialized = initialized, Want = FuseCapabilities.IoctlDir };
        Dispatcher = new RequestDispatcher(fs, Channel);
        Slot = RequestSlot.Allocate(DaemonFd);
    }

    public ulong LastUnique => _unique;

    /// <summary>Builds a request (header, then the argument struct, then trailing bytes) and dispatches it; returns whether it is still to be answered.</summary>
    public bool Send<T>(Opcode op, ulong nodeId, in T arg, ReadOnlySpan<byte> tail = default, uint uid = 1000, uint gid = 1000, uint pid = 4242) where T : unmanaged
    {
        int argSize = typeof(T) == typeof(Empty) ? 0 : sizeof(T); // C# gives an empty struct one byte
        int len = sizeof(InHeader) + argSize + tail.Length;
        *(InHeader*)_buffer = new InHeader { Len = (uint)len, Opcode = (uint)op, Unique = ++_unique, NodeId = nodeId, Uid = uid, Gid = gid, Pid = pid };
        if (argSize > 0) *(T*)(_buffer + sizeof(InHeader)) = arg;
        tail.CopyTo(new Span<byte>(_buffer + sizeof(InHeader) + argSize, tail.Length));
        bool pending = Dispatcher.Process(Slot, _buffer, len);
        if (pending && RequestSlot.Detach(Slot)) Slot = RequestSlot.Allocate(DaemonFd);
        return pending;
    }

    public bool SendNames(Opcode op, ulong nodeId, params string[] names)
    {
        var bytes = new List<byte>();
        foreach (var n in names) { bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(n)); bytes.Add(0); }
        return Send(op, nodeId, new Empty(), bytes.ToArray());
    }

    /// <summary>The next reply: its header and argument bytes.</summary>
    public (OutHeader Header, byte[] Arg) Receive()
    {
        var buf = new byte[1 << 20];
        fixed (byte* b = buf)
        {
            nint n = read(KernelFd, b, (nuint)buf.Length);
            if (n < sizeof(OutHeader)) throw new InvalidOperationException($"short reply {n}");
            var h = *(OutHeader*)b;
            Assert.Equal((uint)n, h.Len);
            return (h, buf[sizeof(OutHeader)..(int)n]);
        }
    }

    public static T As<T>(byte[] arg) where T : unmanaged
    {
        Assert.True(arg.Length >= sizeof(T), $"reply of {arg.Length} bytes, {typeof(T).Name} needs {sizeof(T)}");
        return MemoryMarshal.Read<T>(arg);
    }

    public void Dispose()
    {
        _ = close(DaemonFd);
        _ = close(KernelFd);
        NativeMemory.Free(_buffer);
        NativeMemory.Free(Slot);
    }
}

/// <summary>A zero-length argument (requests that carry only names).</summary>
[StructLayout(LayoutKind.Sequential, Size = 0)]
internal struct Empty;

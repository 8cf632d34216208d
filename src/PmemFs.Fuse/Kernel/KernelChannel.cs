using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// One /dev/fuse connection spoken to directly: its descriptor, what INIT settled, and the
/// unsolicited messages (notifications) sent on it. One per process, as the libfuse session.
/// </summary>
internal sealed unsafe class KernelChannel(int fd)
{
    public int Fd { get; } = fd;
    public volatile bool Initialized;
    public volatile bool Destroyed;
    public volatile bool Ended;
    public FuseCapabilities Want;
    public uint MaxWrite = InitNegotiation.DefaultMaxWrite;
    public uint ProtoMinor;

    /// <summary>The connection notifications and poll wake-ups of this process go to.</summary>
    public static volatile KernelChannel? Current;

    private static readonly byte* Nul = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(8);

    /// <summary>An unsolicited message: a fuse_out_header with unique 0 and the notify code as its error.</summary>
    private int Notify(NotifyCode code, IoVec* pieces, int count)
    {
        if (!Initialized) return -Posix.ENOTCONN;
        long length = 0;
        for (int i = 0; i < count; i++) length += (long)pieces[i].Length;
        var header = new OutHeader { Len = (uint)(sizeof(OutHeader) + length), Error = (int)code, Unique = 0 };
        IoVec* iov = stackalloc IoVec[count + 1];
        iov[0] = new IoVec { Base = &header, Length = (nuint)sizeof(OutHeader) };
        for (int i = 0; i < count; i++) iov[i + 1] = pieces[i];
        return Posix.Send(Fd, iov, count + 1);
    }

    public int InvalidateInode(ulong ino, long offset, long length)
    {
        var arg = new NotifyInvalInodeOut { Ino = ino, Off = offset, Len = length };
        var piece = new IoVec { Base = &arg, Length = (nuint)sizeof(NotifyInvalInodeOut) };
        return Notify(NotifyCode.InvalInode, &piece, 1);
    }

    public int InvalidateEntry(ulong parent, ReadOnlySpan<byte> name)
    {
        var arg = new NotifyInvalEntryOut { Parent = parent, NameLen = (uint)name.Length };
        fixed (byte* n = name)
        {
            IoVec* pieces = stackalloc IoVec[3];
            pieces[0] = new IoVec { Base = &arg, Length = (nuint)sizeof(NotifyInvalEntryOut) };
            pieces[1] = new IoVec { Base = n, Length = (nuint)name.Length };
            pieces[2] = new IoVec { Base = Nul, Length = 1 };
            return Notify(NotifyCode.InvalEntry, pieces, 3);
        }
    }

    public int NotifyPoll(ulong kh)
    {
        var arg = new NotifyPollWakeupOut { Kh = kh };
        var piece = new IoVec { Base = &arg, Length = (nuint)sizeof(NotifyPollWakeupOut) };
        return Notify(NotifyCode.Poll, &piece, 1);
    }

    /// <summary>A FusePollHandle of this transport: the kernel's kh shifted up, bit 0 set (libfuse's handles are pointers, even).</summary>
    public static nint PollHandle(ulong kh) => (nint)((kh << 1) | 1);

    public static ulong PollKh(nint handle) => (ulong)handle >> 1;
}

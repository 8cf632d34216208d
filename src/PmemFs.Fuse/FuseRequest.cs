using PmemFs.Fuse.Kernel;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse;

/// <summary>
/// One request from the kernel, whichever transport read it: a libfuse fuse_req_t, or (bit 0 of
/// the handle set) a request slot of the kernel transport (<see cref="FuseTransport.Kernel"/>).
/// Exactly one Reply* call answers it (forget requests get <see cref="ReplyNone"/>); the request
/// is invalid afterwards. The handle round-trips through <c>new FuseRequest(handle)</c>.
/// </summary>
public readonly unsafe struct FuseRequest(nint handle)
{
    public nint Handle { get; } = handle;

    private bool IsKernel => (Handle & RequestSlot.KernelTag) != 0;

    private RequestSlot* Slot => RequestSlot.FromHandle(Handle);

    /// <summary>Caller's uid, gid, pid and umask (pid 0 for writeback of mmap pages).</summary>
    public FuseContext Context => IsKernel ? Slot->Context : *LibFuse.RequestContext(Handle);

    private static int Mark(int rc)
    {
        Dispatch.Answered = true;
        return rc;
    }

    public bool Interrupted => IsKernel ? Interrupts.Contains(Slot->Unique) : LibFuse.RequestInterrupted(Handle) != 0;

    /// <summary>Replies with a positive errno (0 means success for requests without data).</summary>
    public int ReplyError(int errno) => Mark(IsKernel ? KernelReply.Error(Slot, errno) : LibFuse.ReplyErr(Handle, errno));

    public void ReplyNone()
    {
        Dispatch.Answered = true;
        if (IsKernel) KernelReply.None(Slot);
        else LibFuse.ReplyNone(Handle);
    }

    public int ReplyEntry(in FuseEntryParam entry)
    {
        if (IsKernel) return Mark(KernelReply.Entry(Slot, entry));
        fixed (FuseEntryParam* e = &entry) return Mark(LibFuse.ReplyEntry(Handle, e));
    }

    public int ReplyCreate(in FuseEntryParam entry, FuseFileInfo* fi)
    {
        if (IsKernel) return Mark(KernelReply.Create(Slot, entry, fi));
        fixed (FuseEntryParam* e = &entry) return Mark(LibFuse.ReplyCreate(Handle, e, fi));
    }

    public int ReplyAttr(in Stat attr, double timeout)
    {
        if (IsKernel) return Mark(KernelReply.Attr(Slot, attr, timeout));
        fixed (Stat* s = &attr) return Mark(LibFuse.ReplyAttr(Handle, s, timeout));
    }

    /// <summary>Replies with a symlink target (bytes; libfuse gets it NUL-terminated, the kernel without the NUL).</summary>
    public int ReplyReadLink(ReadOnlySpan<byte> target)
    {
        if (IsKernel) return Mark(KernelReply.Data(Slot, target));
        Span<byte> z = target.Length < 1024 ? stackalloc byte[target.Length + 1] : new byte[target.Length + 1];
        target.CopyTo(z);
        z[^1] = 0;
        fixed (byte* p = z) return Mark(LibFuse.ReplyReadlink(Handle, p));
    }

    public int ReplyOpen(FuseFileInfo* fi) => Mark(IsKernel ? KernelReply.Open(Slot, fi) : LibFuse.ReplyOpen(Handle, fi));

    public int ReplyWrite(long count) => Mark(IsKernel ? KernelReply.Write(Slot, count) : LibFuse.ReplyWrite(Handle, (nuint)count));

    public int ReplyBuffer(ReadOnlySpan<byte> data)
    {
        if (IsKernel) return Mark(KernelReply.Data(Slot, data));
        fixed (byte* p = data) return Mark(LibFuse.ReplyBuf(Handle, p, (nuint)data.Length));
    }

    /// <summary>Replies with data gathered from several buffers (no intermediate copy).</summary>
    public int ReplyIov(ReadOnlySpan<IoVec> iov)
    {
        if (IsKernel) return Mark(KernelReply.Iov(Slot, iov));
        fixed (IoVec* v = iov) return Mark(LibFuse.ReplyIov(Handle, v, iov.Length));
    }

    /// <summary>Replies to <see cref="LowLevelFileSystem.Statx"/>: the attributes and the birth time, split as the other times of <see cref="Stat"/> are.</summary>
    public int ReplyStatx(in Stat attr, long btimeSec, long btimeNsec, double timeout) =>
        IsKernel ? Mark(KernelReply.Statx(Slot, attr, btimeSec, btimeNsec, timeout)) : ReplyError(38); // libfuse never asks (ENOSYS)

    public int ReplyStatFs(in StatVfs st)
    {
        if (IsKernel) return Mark(KernelReply.StatFs(Slot, st));
        fixed (StatVfs* s = &st) return Mark(LibFuse.ReplyStatfs(Handle, s));
    }

    /// <summary>The size an xattr call would need (for size-0 probes).</summary>
    public int ReplyXattrSize(long size) => Mark(IsKernel ? KernelReply.XattrSize(Slot, size) : LibFuse.ReplyXattr(Handle, (nuint)size));

    public int ReplyIoctl(int result, ReadOnlySpan<byte> output)
    {
        if (IsKernel) return Mark(KernelReply.Ioctl(Slot, result, output));
        fixed (byte* p = output) return Mark(LibFuse.ReplyIoctl(Handle, result, p, (nuint)output.Length));
    }

    /// <summary>Answers a poll with the events that are ready now (POLLIN = 1, POLLPRI = 2, POLLOUT = 4, ...).</summary>
    public int ReplyPoll(uint revents) => Mark(IsKernel ? KernelReply.Poll(Slot, revents) : LibFuse.ReplyPoll(Handle, revents));

    public int ReplyLseek(long offset) => Mark(IsKernel ? KernelReply.Lseek(Slot, offset) : LibFuse.ReplyLseek(Handle, offset));

    /// <summary>
    /// Appends a readdir entry to <paramref name="buffer"/> at <paramref name="used"/>; returns false
    /// (and appends nothing) when it does not fit.
    /// </summary>
    public bool AddDirectoryEntry(Span<byte> buffer, ref int used, ReadOnlySpan<byte> name, ulong ino, uint mode, long nextOffset)
    {
        if (IsKernel) return Added(ReplyEncoding.AddDirent(buffer[used..], name, ino, mode, nextOffset), buffer, ref used);
        Span<byte> z = stackalloc byte[name.Length + 1];
        name.CopyTo(z);
        z[^1] = 0;
        var st = new Stat { Ino = ino, Mode = mode };
        fixed (byte* b = buffer)
        fixed (byte* n = z)
        {
            nuint need = LibFuse.AddDirentry(Handle, b + used, (nuint)(buffer.Length - used), n, &st, nextOffset);
            if ((long)need > buffer.Length - used) return false;
            used += (int)need;
            return true;
        }
    }

    /// <summary>readdirplus: as <see cref="AddDirectoryEntry"/> with full attributes (a lookup, for a name other than . and ..).</summary>
    public bool AddDirectoryEntryPlus(Span<byte> buffer, ref int used, ReadOnlySpan<byte> name, in FuseEntryParam entry, long nextOffset)
    {
        if (IsKernel) return Added(ReplyEncoding.AddDirentPlus(buffer[used..], name, entry, nextOffset), buffer, ref used);
        Span<byte> z = stackalloc byte[name.Length + 1];
        name.CopyTo(z);
        z[^1] = 0;
        fixed (byte* b = buffer)
        fixed (byte* n = z)
        fixed (FuseEntryParam* e = &entry)
        {
            nuint need = LibFuse.AddDirentryPlus(Handle, b + used, (nuint)(buffer.Length - used), n, e, nextOffset);
            if ((long)need > buffer.Length - used) return false;
            used += (int)need;
            return true;
        }
    }

    private static bool Added(int need, Span<byte> buffer, ref int used)
    {
        if (need > buffer.Length - used) return false;
        used += need;
        return true;
    }
}

/// <summary>
/// A struct fuse_pollhandle: the kernel's poll waiter of one open file. <see cref="Notify"/>
/// wakes it (the kernel then polls again, with a new handle); each handle must be destroyed
/// exactly once. Notify is a non-blocking write to /dev/fuse, safe from any thread.
/// </summary>
public readonly struct FusePollHandle(nint handle)
{
    public nint Handle { get; } = handle;

    public bool IsNone => Handle == 0;

    /// <summary>Wakes the poller; 0, or a negative errno (-ENOENT: the kernel no longer waits on it).</summary>
    public int Notify() => Handle == 0 ? 0
        : (Handle & 1) != 0 ? KernelChannel.Current?.NotifyPoll(KernelChannel.PollKh(Handle)) ?? -107 /* ENOTCONN */
        : LibFuse.NotifyPoll(Handle);

    /// <summary>libfuse frees its handle; the kernel transport's handle is a plain number.</summary>
    public void Destroy()
    {
        if (Handle != 0 && (Handle & 1) == 0) LibFuse.PollHandleDestroy(Handle);
    }
}

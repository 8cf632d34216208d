using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// Replies of the kernel transport: one writev(2) of a fuse_out_header and the reply's argument
/// (as libfuse's fuse_reply_* would encode it). Every reply returns 0 or a negative errno and
/// completes the slot. Nothing here allocates on the heap (ReplyIov only past 63 pieces).
/// </summary>
internal static unsafe class KernelReply
{
    public static int Error(RequestSlot* slot, int errno)
    {
        int error = -errno;
        // libfuse's check: an errno must be a small positive number (0 is success).
        if (error <= -1000 || error > 0) error = -Posix.ERANGE;
        return Send(slot, error, null, 0);
    }

    public static void None(RequestSlot* slot) => RequestSlot.Complete(slot);

    public static int Ok<T>(RequestSlot* slot, in T arg) where T : unmanaged
    {
        fixed (T* p = &arg) return Send(slot, 0, p, sizeof(T));
    }

    public static int Data(RequestSlot* slot, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) return Send(slot, 0, p, data.Length);
    }

    public static int Send(RequestSlot* slot, int error, void* arg, int length)
    {
        var header = new OutHeader { Len = (uint)(sizeof(OutHeader) + length), Error = error, Unique = slot->Unique };
        IoVec* iov = stackalloc IoVec[2];
        iov[0] = new IoVec { Base = &header, Length = (nuint)sizeof(OutHeader) };
        iov[1] = new IoVec { Base = arg, Length = (nuint)length };
        int fd = slot->Fd;
        RequestSlot.Complete(slot);
        // The slot may be freed from here (a parked request): only locals are used.
        return Posix.Send(fd, iov, length > 0 ? 2 : 1);
    }

    /// <summary>A reply gathered from several buffers: the header goes in front of them.</summary>
    public static int Iov(RequestSlot* slot, ReadOnlySpan<IoVec> pieces)
    {
        long length = 0;
        foreach (var p in pieces) length += (long)p.Length;
        var header = new OutHeader { Len = (uint)(sizeof(OutHeader) + length), Error = 0, Unique = slot->Unique };
        int count = pieces.Length + 1;
        Span<IoVec> iov = count <= 64 ? stackalloc IoVec[count] : new IoVec[count];
        iov[0] = new IoVec { Base = &header, Length = (nuint)sizeof(OutHeader) };
        pieces.CopyTo(iov[1..]);
        int fd = slot->Fd;
        RequestSlot.Complete(slot);
        fixed (IoVec* v = iov) return Posix.Send(fd, v, count);
    }

    public static int Entry(RequestSlot* slot, in FuseEntryParam e)
    {
        SetIdInodes.Note(e.Ino, e.Attr.Mode);
        ReplyEncoding.FillEntry(e, out var o);
        return Ok(slot, o);
    }

    public static int Create(RequestSlot* slot, in FuseEntryParam e, FuseFileInfo* fi)
    {
        SetIdInodes.Note(e.Ino, e.Attr.Mode);
        var o = default(CreateOut);
        ReplyEncoding.FillEntry(e, out o.Entry);
        ReplyEncoding.FillOpen(fi, out o.Open);
        return Ok(slot, o);
    }

    public static int Attr(RequestSlot* slot, in Stat st, double timeout)
    {
        SetIdInodes.Note(slot->NodeId, st.Mode);
        var o = new AttrOut { AttrValid = ReplyEncoding.TimeoutSeconds(timeout), AttrValidNsec = ReplyEncoding.TimeoutNanoseconds(timeout) };
        ReplyEncoding.FillAttr(st, out o.Attr);
        return Ok(slot, o);
    }

    public static int Statx(RequestSlot* slot, in Stat st, long btimeSec, long btimeNsec, double timeout)
    {
        SetIdInodes.Note(slot->NodeId, st.Mode);
        var o = new StatxOut { AttrValid = ReplyEncoding.TimeoutSeconds(timeout), AttrValidNsec = ReplyEncoding.TimeoutNanoseconds(timeout) };
        ReplyEncoding.FillStatx(st, btimeSec, btimeNsec, out o.Stat);
        return Ok(slot, o);
    }

    public static int Open(RequestSlot* slot, FuseFileInfo* fi)
    {
        ReplyEncoding.FillOpen(fi, out var o);
        return Ok(slot, o);
    }

    /// <summary>fuse_write_out, or fuse_copy_file_range_out (one u64, same 8 bytes) for FUSE_COPY_FILE_RANGE_64.</summary>
    public static int Write(RequestSlot* slot, long count)
    {
        ulong value = slot->Opcode == Opcode.CopyFileRange64 ? (ulong)count : Math.Min((ulong)count, uint.MaxValue);
        return Ok(slot, value);
    }

    public static int StatFs(RequestSlot* slot, in StatVfs s)
    {
        ReplyEncoding.FillStatFs(s, out var o);
        return Ok(slot, o);
    }

    public static int XattrSize(RequestSlot* slot, long size) => Ok(slot, new GetXattrOut { Size = (uint)size });

    public static int Ioctl(RequestSlot* slot, int result, ReadOnlySpan<byte> output)
    {
        var o = new IoctlOut { Result = result };
        if (output.IsEmpty) return Ok(slot, o);
        fixed (byte* p = output)
        {
            IoVec* pieces = stackalloc IoVec[2];
            pieces[0] = new IoVec { Base = &o, Length = (nuint)sizeof(IoctlOut) };
            pieces[1] = new IoVec { Base = p, Length = (nuint)output.Length };
            return Iov(slot, new ReadOnlySpan<IoVec>(pieces, 2));
        }
    }

    public static int Poll(RequestSlot* slot, uint revents) => Ok(slot, new PollOut { Revents = revents });

    public static int Lseek(RequestSlot* slot, long offset) => Ok(slot, new LseekOut { Offset = (ulong)offset });
}

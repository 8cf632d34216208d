using System.Runtime.InteropServices;
using PmemFs.Engine;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>File data: open, read, write, fsync, fallocate, lseek (copy_file_range: PmemFsOperations.Clone.cs).</summary>
public sealed unsafe partial class PmemFsOperations
{
    /// <summary>Zeros for holes in read replies, shared by every request (never written).</summary>
    private static readonly byte* ZeroPage = (byte*)NativeMemory.AllocZeroed(ZeroPageSize);
    private const int ZeroPageSize = 256 * 1024;

    private static readonly MappedReadSink<nint> ReplyFromMapping = SendSegments;

    public override void Create(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode, FuseFileInfo* fi)
    {
        var errno = _fs.Create(parent, name, mode, Caller(req), out var attr);
        if (errno.IsOk)
        {
            _fs.Opened(attr.Ino);
            fi->Fh = _handles.Add(attr.Ino, fi->Flags).Id;
        }
        // A reply the kernel did not take gives the handle back: it will never be released.
        if (!ReplyEntry(req, errno, attr, fi) && errno.IsOk) Closed(attr.Ino, fi->Fh);
    }

    /// <summary>O_TMPFILE: an unnamed file, open, that linkat(AT_EMPTY_PATH) may name later (FileSystem.CreateTmpFile).</summary>
    public override void TmpFile(FuseRequest req, ulong parent, uint mode, FuseFileInfo* fi)
    {
        var errno = _fs.CreateTmpFile(parent, mode, Caller(req), out var attr);
        if (errno.IsOk)
        {
            _fs.Opened(attr.Ino);
            fi->Fh = _handles.Add(attr.Ino, fi->Flags).Id;
        }
        if (!ReplyEntry(req, errno, attr, fi) && errno.IsOk) Closed(attr.Ino, fi->Fh);
    }

    public override void Open(FuseRequest req, ulong ino, FuseFileInfo* fi)
    {
        // O_TRUNC never arrives here (no atomic O_TRUNC): the kernel sends a setattr after the open.
        var errno = _fs.Open(ino, write: (fi->Flags & OpenAccessMode) != OpenReadOnly, append: (fi->Flags & OpenAppend) != 0);
        if (errno.Failed) { Reply(req, errno); return; }
        fi->Fh = _handles.Add(ino, fi->Flags).Id;
        if (req.ReplyOpen(fi) != 0) Closed(ino, fi->Fh); // the kernel did not take the handle
    }

    private const int OpenAccessMode = 3, OpenReadOnly = 0, OpenAppend = 0x400;

    /// <summary>The last descriptor of an open file is closed: the handle's leases end with it.</summary>
    public override void Release(FuseRequest req, ulong ino, FuseFileInfo* fi)
    {
        Closed(ino, fi->Fh);
        req.ReplyError(0);
    }

    private void Closed(ulong ino, ulong fh)
    {
        _fs.Closed(ino, fh); // its leases end: LeaseEnded drops the pages a write lease's holder may have stored to
        _handles.Remove(fh);
    }

    /// <summary>
    /// Replies straight from the pmem mapping: the engine hands out the mapped pieces under the
    /// inode's read lock and the reply (one writev to /dev/fuse) is sent before it is released.
    /// </summary>
    public override void Read(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi)
    {
        var errno = _fs.ReadMapped(ino, offset, (int)Math.Min(size, int.MaxValue), req.Handle, ReplyFromMapping);
        if (errno.Failed) Reply(req, errno);
    }

    private static void SendSegments(ReadOnlySpan<DataSegment> segments, nint handle)
    {
        var req = new FuseRequest(handle);
        int needed = 0;
        foreach (var s in segments) needed += s.IsZeros ? (s.Length + ZeroPageSize - 1) / ZeroPageSize : 1;
        Span<IoVec> iov = needed <= 64 ? stackalloc IoVec[needed] : new IoVec[needed];
        int n = 0;
        foreach (var s in segments)
        {
            if (!s.IsZeros)
            {
                iov[n++] = new IoVec { Base = (void*)s.Address, Length = (nuint)s.Length };
                continue;
            }
            for (int left = s.Length; left > 0; left -= ZeroPageSize)
                iov[n++] = new IoVec { Base = ZeroPage, Length = (nuint)Math.Min(left, ZeroPageSize) };
        }
        req.ReplyIov(iov[..n]);
    }

    /// <summary>write(2) and mmap writeback (writepage set, pid 0): durable before the reply.</summary>
    public override void Write(FuseRequest req, ulong ino, ReadOnlySpan<byte> data, long offset, FuseFileInfo* fi)
    {
        var who = Caller(req);
        // The writepage bit tells the kernel's writeback of a shared mapping from write(2)
        // (only without FUSE's writeback cache, which Init never enables): DAX_IMMUTABLE's rule 5.
        var origin = fi->IsWritePage ? WriteOrigin.MappedWriteback : WriteOrigin.Syscall;
        // A write that does not fit writes what does (a short count, as write(2)): the engine's policy.
        var errno = _fs.WriteWhatFits(ino, offset, data, who, out int written, origin);
        if (errno == Errno.RetryAfterRecall) ParkWrite(req, ino, offset, data, who, origin);
        else if (errno.Failed) Reply(req, errno);
        else req.ReplyWrite(written);
    }

    /// <summary>
    /// A copy on write of shared blocks that others lease: parked until the recall ends. The
    /// span is the FUSE buffer, gone once Write returns: copied first. A method of its own so
    /// that the closure is made only here: captured parameters would make the compiler
    /// allocate it at the entry of Write, on every write.
    /// </summary>
    private void ParkWrite(FuseRequest req, ulong ino, long offset, ReadOnlySpan<byte> data, Credentials who, WriteOrigin origin)
    {
        byte[] copy = data.ToArray();
        int done = 0;
        Park(req, "write", ino, () => _fs.WriteWhatFits(ino, offset, copy, who, out done, origin), e =>
        {
            if (e.Failed) Reply(req, e);
            else req.ReplyWrite(done);
        });
    }

    /// <summary>
    /// Every write and metadata change is durable when it returns, so fsync, fdatasync, syncfs
    /// and close have nothing left to do here. ENOSYS tells the kernel so once: it stops sending
    /// FSYNC (FSYNCDIR, FLUSH) and answers them 0 itself, after what it must still do itself
    /// (write back dirty pages of shared mappings, which arrive as writepage WRITEs and are
    /// durable when answered; their errors reach fsync through the mapping). An error is never
    /// hidden by this: each write already reported its own, and a forced shutdown refuses
    /// writes rather than losing acknowledged ones.
    /// </summary>
    public override void Fsync(FuseRequest req, ulong ino, bool dataOnly, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    public override void FsyncDir(FuseRequest req, ulong ino, bool dataOnly, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    public override void Flush(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    public override void Fallocate(FuseRequest req, ulong ino, int mode, long offset, long length, FuseFileInfo* fi)
    {
        if (offset < 0 || length <= 0) { Reply(req, Errno.EINVAL); return; }
        var who = Caller(req);
        ulong fh = fi->Fh;
        var errno = _fs.Fallocate(ino, (FallocateMode)mode, offset, length, who, fh);
        if (errno == Errno.RetryAfterRecall) ParkFallocate(req, ino, (FallocateMode)mode, offset, length, who, fh);
        else Reply(req, errno);
    }

    /// <summary>As <see cref="ParkWrite"/>: the closure is made only when the call is parked.</summary>
    private void ParkFallocate(FuseRequest req, ulong ino, FallocateMode mode, long offset, long length, Credentials who, ulong fh) =>
        Park(req, "fallocate", ino, () => _fs.Fallocate(ino, mode, offset, length, who, fh), e => Reply(req, e));

    public override void Lseek(FuseRequest req, ulong ino, long offset, int whence, FuseFileInfo* fi)
    {
        if (whence is not ((int)SeekWhence.Data or (int)SeekWhence.Hole))
        {
            // SEEK_SET/CUR/END are the kernel's own business and never arrive.
            Reply(req, Errno.EINVAL);
            return;
        }
        var errno = _fs.Seek(ino, offset, (SeekWhence)whence, out long result);
        if (errno.Failed) Reply(req, errno);
        else req.ReplyLseek(result);
    }
}

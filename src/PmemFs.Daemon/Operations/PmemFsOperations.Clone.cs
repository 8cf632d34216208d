using System.Globalization;
using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// Reflink through the mount (issue 12): copy_file_range shares the block-aligned middle of a
/// range with the engine's <see cref="FileSystem.CloneRange"/> and copies the edges, and
/// PMEMFS_IOC_CLONE_RANGE (pmemfs.h) shares or fails, never copies (`pmemfs reflink`).
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    private const int BlockSize = FormatConstants.BlockSize;

    /// <summary>
    /// The mount's device ("major:minor" as mountinfo shows it), to tell that a clone's source
    /// descriptor is on this mount (set by the daemon; null: not mounted, every source is EXDEV).
    /// </summary>
    public Func<string?>? OwnDevice { get; set; }

    /// <summary>
    /// copy_file_range within the mount. When the two offsets are congruent modulo the block size
    /// the whole blocks of the range are shared (<see cref="FileSystem.CloneRange"/>: metadata
    /// only, copied on a later write by either file) and the unaligned head and tail are copied;
    /// otherwise, and when the source is DAX_IMMUTABLE (rule 2: it never shares), everything is
    /// copied through a pooled buffer in 1 MiB steps, each a durable write. A short count at end
    /// of file or when the file system fills, as the syscall allows. A copy on write or a clone
    /// over others' leases parks the request until the recall ends, then goes on where it was.
    /// </summary>
    public override void CopyFileRange(FuseRequest req, ulong inoIn, long offIn, FuseFileInfo* fiIn, ulong inoOut, long offOut, FuseFileInfo* fiOut, long length, int flags)
    {
        if (flags != 0 || offIn < 0 || offOut < 0 || length < 0) { Reply(req, Errno.EINVAL); return; }
        var errno = _fs.GetAttr(inoIn, out var src);
        if (errno.Failed) { Reply(req, errno); return; }
        // Only what the source has (the kernel passes the caller's length, often SSIZE_MAX).
        length = Math.Min(length, Math.Max(0, src.Size - offIn));
        if (length == 0) { req.ReplyWrite(0); return; }
        bool share = offIn % BlockSize == offOut % BlockSize && !IsDaxImmutable(inoIn);
        var job = new RangeCopy(_fs, inoIn, offIn, inoOut, offOut, length, Caller(req), fiOut is null ? 0 : fiOut->Fh, share);
        errno = job.Run();
        if (errno == Errno.RetryAfterRecall)
            // The clone recalls leases of both files, a copy on write those of the destination:
            // wait for every recall of the mount rather than guess which one holds it back.
            Park(req, "copy_file_range", null, job.Run, e => ReplyCopied(req, e, job.Done));
        else ReplyCopied(req, errno, job.Done);
    }

    /// <summary>What was done is the answer (a short count); an error only when nothing was.</summary>
    private static void ReplyCopied(FuseRequest req, Errno errno, long done)
    {
        if (errno.Failed && done == 0) Reply(req, errno);
        else req.ReplyWrite(done);
    }

    private bool IsDaxImmutable(ulong ino) => _fs.GetFlags(ino, out var state).IsOk && (state.Flags & InodeFlags.DaxImmutable) != 0;

    /// <summary>
    /// One copy_file_range, resumable: <see cref="Run"/> goes on from <see cref="Done"/> after a
    /// <see cref="Errno.RetryAfterRecall"/> (nothing of the refused step was changed).
    /// </summary>
    private sealed class RangeCopy(FileSystem fs, ulong srcIno, long srcOffset, ulong dstIno, long dstOffset, long length, Credentials who, ulong dstHandle, bool share)
    {
        private const int Step = 1 << 20;

        /// <summary>Bytes before the first block boundary of the source (copied), when sharing.</summary>
        private readonly long _head = share ? Math.Min(length, (BlockSize - srcOffset % BlockSize) % BlockSize) : length;
        private bool _shareTried = !share;

        public long Done { get; private set; }

        /// <summary>Ok (<see cref="Done"/> says how much: less than asked at the source's end or when space ran out), RetryAfterRecall, or the error that stopped it.</summary>
        public Errno Run()
        {
            while (Done < length)
            {
                if (!_shareTried && Done == _head)
                {
                    long whole = (length - _head) / BlockSize * BlockSize;
                    if (whole == 0) _shareTried = true;
                    else
                    {
                        var errno = fs.CloneRange(srcIno, srcOffset + Done, dstIno, dstOffset + Done, whole, who, dstHandle, out long cloned);
                        if (errno == Errno.RetryAfterRecall) return errno;
                        _shareTried = true;
                        if (errno.IsOk)
                        {
                            Done += cloned;
                            if (cloned < whole) return Errno.Ok; // the source ended
                            continue;
                        }
                        // Windows committed before a failure (ENOSPC) stay: a short count, as the syscall allows.
                        if (cloned > 0) { Done += cloned; return Errno.Ok; }
                        if (!CannotShare(errno)) return errno;
                        // Not shareable here: the same range is copied below.
                    }
                }
                var step = CopyStep(_shareTried ? length - Done : _head - Done, out bool end);
                if (step.Failed || end) return step;
            }
            return Errno.Ok;
        }

        /// <summary>
        /// Refusals that say "these blocks cannot be shared" rather than "this copy cannot be
        /// done": a copy may still succeed (EINVAL: an EOF or overlap rule of the clone; EMLINK: a
        /// block with too many owners; EOPNOTSUPP). A DAX_IMMUTABLE source was ruled out before;
        /// EPERM now is the destination's, which a copy would get too.
        /// </summary>
        private static bool CannotShare(Errno errno) => errno == Errno.EINVAL || errno == Errno.EMLINK || errno == Errno.EOPNOTSUPP;

        /// <summary>Copies up to <paramref name="limit"/> bytes (one step); <paramref name="end"/> when the copy cannot go on (source's end, a short write).</summary>
        private Errno CopyStep(long limit, out bool end)
        {
            end = false;
            int want = (int)Math.Min(Step, limit);
            var buffer = Rent(want, out byte[] array);
            try
            {
                var errno = fs.Read(srcIno, srcOffset + Done, buffer, out int got);
                if (errno.Failed) return errno;
                if (got == 0) { end = true; return Errno.Ok; }
                errno = fs.WriteWhatFits(dstIno, dstOffset + Done, buffer[..got], who, out int written);
                if (errno.Failed) return errno; // RetryAfterRecall changed nothing: the step is done again
                Done += written;
                if (written < got) end = true;
                return Errno.Ok;
            }
            finally { Return(array); }
        }
    }

    /// <summary>PMEMFS_IOC_CLONE_RANGE on the destination's descriptor: the struct, then the descriptors, then the engine.</summary>
    private bool TryCloneIoctl(FuseRequest req, ulong ino, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsCloneRange.Size || outSize < PmemFsCloneRange.Size) return false;
        var a = MemoryMarshal.Read<PmemFsCloneRange>(input);
        var errno = ValidateClone(a);
        if (errno.IsOk && (flags & IoctlDir) != 0) errno = Errno.EISDIR; // as FICLONERANGE onto a directory
        var handle = fi is null ? null : _handles.Get(fi->Fh);
        if (errno.IsOk && (handle is null || !handle.CanWrite || handle.Append)) errno = Errno.EBADF;
        ulong srcIno = 0;
        if (errno.IsOk) errno = SourceDescriptor(req.Context.Pid, a.SrcFd, out srcIno);
        if (errno.IsOk && (_fs.Options.ReadOnly || MountIsReadOnly?.Invoke() == true)) errno = Errno.EROFS;
        if (errno.Failed) { Reply(req, errno); return true; }
        var who = Caller(req);
        ulong fh = fi->Fh;
        long cloned = 0;
        Errno Attempt() => _fs.CloneRange(srcIno, (long)a.SrcOffset, ino, (long)a.DstOffset, (long)a.Length, who, fh, out cloned);
        void Answer(Errno e) => ReplyCloned(req, ino, e, a, cloned);
        errno = Attempt();
        if (errno == Errno.RetryAfterRecall) Park(req, "clone", null, Attempt, Answer);
        else Answer(errno);
        return true;
    }

    private static Errno ValidateClone(in PmemFsCloneRange a)
    {
        if (a.Version != PmemFsCloneAbi.Version || a.Flags != 0 || a.Cloned != 0 || a.Reserved1 != 0 || a.Reserved2 != 0 || a.SrcFd < 0)
            return Errno.EINVAL;
        if (a.SrcOffset > long.MaxValue || a.DstOffset > long.MaxValue || a.Length > long.MaxValue) return Errno.EINVAL;
        if (a.SrcOffset % BlockSize != 0 || a.DstOffset % BlockSize != 0) return Errno.EINVAL;
        if (a.SrcOffset + a.Length > long.MaxValue || a.DstOffset + a.Length > long.MaxValue) return Errno.EINVAL;
        return Errno.Ok;
    }

    /// <summary>
    /// The destination's data changed behind the kernel's page cache (unlike copy_file_range,
    /// whose cached pages the kernel drops itself): drop the range and the size before replying.
    /// </summary>
    private void ReplyCloned(FuseRequest req, ulong ino, Errno errno, PmemFsCloneRange a, long cloned)
    {
        if (errno.Failed)
        {
            LogRefusal(req, ino, "clone", errno);
            Reply(req, errno);
            return;
        }
        a.Cloned = (ulong)cloned;
        if (cloned == 0)
        {
            req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsCloneRange>(in a)));
            return;
        }
        DropCachedPages(ino, (long)a.DstOffset, RoundUpToPage(cloned), () => req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsCloneRange>(in a))));
    }

    /// <summary>
    /// The inode behind descriptor <paramref name="fd"/> of the calling thread, read from the
    /// kernel's /proc/PID/fdinfo (its access mode, mount id and inode number), after checking
    /// that it is open for reading and on this mount. The kernel vouches for every field: the
    /// caller could open the file for reading, as FICLONERANGE's src_fd proves. The caller is
    /// blocked in the ioctl, so its thread id cannot be reused meanwhile.
    /// </summary>
    private Errno SourceDescriptor(int pid, int fd, out ulong ino)
    {
        ino = 0;
        if (pid <= 0) return ESRCH;
        string proc = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}";
        string[] lines;
        try { lines = File.ReadAllLines($"{proc}/fdinfo/{fd.ToString(CultureInfo.InvariantCulture)}"); }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
        catch (IOException) { return Directory.Exists(proc) ? Errno.EBADF : ESRCH; }
        string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..].Trim();
        if (Field("flags") is not { } flagsText || Field("mnt_id") is not { } mountId || Field("ino") is not { } inoText) return Errno.EBADF;
        int openFlags;
        try { openFlags = Convert.ToInt32(flagsText, 8); }
        catch (FormatException) { return Errno.EBADF; }
        const int OPath = 0x200000; // 010000000
        if ((openFlags & OPath) != 0 || (openFlags & 3) is 1 or 3) return Errno.EBADF; // not open for reading
        if (!ulong.TryParse(inoText, NumberStyles.None, CultureInfo.InvariantCulture, out ino)) return Errno.EBADF;
        // The descriptor's mount, in the caller's own mount namespace: its device must be ours.
        string? device = null;
        try
        {
            foreach (var line in File.ReadLines($"{proc}/mountinfo"))
            {
                var f = line.Split(' ', 4);
                if (f.Length >= 3 && f[0] == mountId) { device = f[2]; break; }
            }
        }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
        catch (IOException) { return ESRCH; }
        string? own = OwnDevice?.Invoke();
        if (device is null || own is null || device != own) return Errno.EXDEV;
        return Errno.Ok;
    }
}

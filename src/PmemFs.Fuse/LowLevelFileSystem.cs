using PmemFs.Fuse.Native;

namespace PmemFs.Fuse;

/// <summary>
/// What a daemon implements: the requests of libfuse's low-level API, by inode number. Each
/// method must answer its request exactly once. The defaults answer ENOSYS, which the kernel
/// remembers for most requests. Names are bytes (never decoded). An exception escaping a
/// method is logged through <see cref="OnUnhandledException"/> and answered with EIO.
/// </summary>
/// <remarks>
/// getlk/setlk/flock are deliberately absent from the operation table: without them the
/// kernel keeps POSIX and flock locks itself, which is right for a single-host file system.
/// </remarks>
public abstract unsafe class LowLevelFileSystem
{
    protected const int ENOSYS = 38;

    /// <summary>Called once when the kernel connection is set up: negotiate capabilities here.</summary>
    public virtual void Init(FuseConnInfo* conn) { }

    /// <summary>The session ends (unmounted): persist everything.</summary>
    public virtual void Destroy() { }

    public virtual void Lookup(FuseRequest req, ulong parent, ReadOnlySpan<byte> name) => req.ReplyError(ENOSYS);
    public virtual void Forget(ulong ino, ulong nlookup) { }
    public virtual void GetAttr(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    /// <summary>
    /// FUSE_TMPFILE (open(2) with O_TMPFILE; the kernel transport only, libfuse 3.14 has no such
    /// operation): create an unnamed regular file in <paramref name="parent"/> and open it,
    /// replying as <see cref="Create"/> does. ENOSYS (the default) makes O_TMPFILE EOPNOTSUPP.
    /// </summary>
    public virtual void TmpFile(FuseRequest req, ulong parent, uint mode, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    /// <summary>
    /// FUSE_STATX (protocol 7.39; the kernel transport only, libfuse 3.14 has no such operation):
    /// getattr plus the birth time, which the kernel asks for when statx(2) wants STATX_BTIME.
    /// ENOSYS (the default) makes the kernel fall back to getattr for the rest of the mount.
    /// </summary>
    public virtual void Statx(FuseRequest req, ulong ino, uint flags, uint mask, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void SetAttr(FuseRequest req, ulong ino, Stat* attr, int toSet, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void ReadLink(FuseRequest req, ulong ino) => req.ReplyError(ENOSYS);
    public virtual void MkNod(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode, ulong rdev) => req.ReplyError(ENOSYS);
    public virtual void MkDir(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode) => req.ReplyError(ENOSYS);
    public virtual void Unlink(FuseRequest req, ulong parent, ReadOnlySpan<byte> name) => req.ReplyError(ENOSYS);
    public virtual void RmDir(FuseRequest req, ulong parent, ReadOnlySpan<byte> name) => req.ReplyError(ENOSYS);
    public virtual void Symlink(FuseRequest req, ReadOnlySpan<byte> target, ulong parent, ReadOnlySpan<byte> name) => req.ReplyError(ENOSYS);
    public virtual void Rename(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags) => req.ReplyError(ENOSYS);
    public virtual void Link(FuseRequest req, ulong ino, ulong newParent, ReadOnlySpan<byte> newName) => req.ReplyError(ENOSYS);
    public virtual void Open(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyOpen(fi);
    public virtual void Read(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void Write(FuseRequest req, ulong ino, ReadOnlySpan<byte> data, long offset, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void Flush(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyError(0);
    public virtual void Release(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyError(0);
    public virtual void Fsync(FuseRequest req, ulong ino, bool dataOnly, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void OpenDir(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyOpen(fi);
    public virtual void ReadDir(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void ReadDirPlus(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void ReleaseDir(FuseRequest req, ulong ino, FuseFileInfo* fi) => req.ReplyError(0);
    public virtual void FsyncDir(FuseRequest req, ulong ino, bool dataOnly, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void StatFs(FuseRequest req, ulong ino) => req.ReplyError(ENOSYS);
    public virtual void SetXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags) => req.ReplyError(ENOSYS);
    public virtual void GetXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name, long size) => req.ReplyError(ENOSYS);
    public virtual void ListXattr(FuseRequest req, ulong ino, long size) => req.ReplyError(ENOSYS);
    public virtual void RemoveXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name) => req.ReplyError(ENOSYS);
    public virtual void Access(FuseRequest req, ulong ino, int mask) => req.ReplyError(ENOSYS);
    public virtual void Create(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void Ioctl(FuseRequest req, ulong ino, uint cmd, nint arg, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize) => req.ReplyError(25 /* ENOTTY */);
    /// <summary>
    /// poll(2) on an open file. Answer with <see cref="FuseRequest.ReplyPoll"/>; keep
    /// <paramref name="ph"/> (when not <see cref="FusePollHandle.IsNone"/>) to wake the poller
    /// later with <see cref="FusePollHandle.Notify"/>, and destroy it once done with it. The
    /// default answers ENOSYS: the kernel then stops asking and reports a regular file's mask.
    /// </summary>
    public virtual void Poll(FuseRequest req, ulong ino, FuseFileInfo* fi, FusePollHandle ph)
    {
        ph.Destroy();
        req.ReplyError(ENOSYS);
    }

    public virtual void Fallocate(FuseRequest req, ulong ino, int mode, long offset, long length, FuseFileInfo* fi) => req.ReplyError(ENOSYS);
    public virtual void CopyFileRange(FuseRequest req, ulong inoIn, long offIn, FuseFileInfo* fiIn, ulong inoOut, long offOut, FuseFileInfo* fiOut, long length, int flags) => req.ReplyError(ENOSYS);
    public virtual void Lseek(FuseRequest req, ulong ino, long offset, int whence, FuseFileInfo* fi) => req.ReplyError(ENOSYS);

    /// <summary>An exception escaped an operation (it was answered with EIO): log it.</summary>
    public virtual void OnUnhandledException(string operation, Exception e) { }
}

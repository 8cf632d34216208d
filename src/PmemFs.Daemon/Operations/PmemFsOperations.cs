using PmemFs.Engine;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// The FUSE adapter: each request becomes one engine call and one reply. It knows the kernel's
/// conventions (lookup counts, attribute timeouts, errno replies), never the on-media bytes.
/// </summary>
/// <remarks>
/// Permission checks on mode bits are the kernel's (the mount always has default_permissions,
/// so they are exactly a kernel file system's); ownership rules for chmod/chown, setgid
/// inheritance and suid/sgid clearing are the engine's.
/// </remarks>
public sealed unsafe partial class PmemFsOperations(FileSystem fs, DaemonLog log) : LowLevelFileSystem
{
    /// <summary>
    /// How long the kernel may keep attributes, names and negative lookups without asking. The
    /// daemon is the only writer of its metadata and every change but a few arrives through this
    /// mount's kernel, which updates or invalidates what it caches itself (write, setattr,
    /// create, unlink, rename, link, xattrs). The few it does not see are invalidated by the
    /// daemon when they happen: flag changes and clones through ioctls
    /// (<see cref="AttributesChanged"/>), prepare-write and lease ends, poison
    /// (<see cref="DropCachedPages"/>). So the timeouts can be long, as for a local file system.
    /// </summary>
    internal const double AttrTimeout = 86400, EntryTimeout = 86400;

    private readonly FileSystem _fs = fs;
    private readonly DaemonLog _log = log;

    public override void Init(FuseConnInfo* conn)
    {
        // No writeback cache: the flag engine must tell write(2) from mmap writeback (FUSE-FACTS).
        // No atomic O_TRUNC: truncation on open arrives as a setattr, through one engine path.
        var want = (FuseCapabilities)conn->Want;
        want &= ~(FuseCapabilities.WritebackCache | FuseCapabilities.AtomicOTrunc | FuseCapabilities.PosixLocks | FuseCapabilities.FlockLocks);
        var capable = (FuseCapabilities)conn->Capable;
        // Export support: for a file handle whose inode it no longer caches (after drop_caches,
        // after a remount) the kernel looks up "." in the handle's node id, and ".." to reconnect
        // a directory; node ids are inode numbers and generations persist, so handles are
        // durable (FileSystem.Handles.cs, docs/nfs.md).
        want |= capable & (FuseCapabilities.ParallelDirops | FuseCapabilities.ReaddirPlus | FuseCapabilities.ReaddirPlusAuto
            | FuseCapabilities.AsyncRead | FuseCapabilities.IoctlDir | FuseCapabilities.HandleKillpriv | FuseCapabilities.AutoInvalData
            | FuseCapabilities.ExportSupport);
        // POSIX ACLs: the kernel enforces and caches them, the engine stores them and keeps them in
        // step with the mode (docs/acl.md). With them comes DONT_MASK: the kernel must not apply
        // the umask, because a directory's default ACL replaces it; the engine does instead.
        if ((capable & (FuseCapabilities.PosixAcl | FuseCapabilities.DontMask)) == (FuseCapabilities.PosixAcl | FuseCapabilities.DontMask))
            want |= FuseCapabilities.PosixAcl | FuseCapabilities.DontMask;
        _engineMasks = (want & FuseCapabilities.DontMask) != 0;
        conn->Want = (uint)want;
        conn->TimeGran = 1;
        // Sequential reads in 1 MiB requests rather than the 128 KiB default: a quarter of the round trips.
        conn->MaxReadahead = Math.Max(conn->MaxReadahead, 1u << 20);
        _log.Info($"FUSE protocol {conn->ProtoMajor}.{conn->ProtoMinor}, max_write {conn->MaxWrite}, max_read {conn->MaxRead}, want 0x{conn->Want:x}");
    }

    /// <summary>Only logged: the daemon checkpoints once when the loop ends, whether or not FUSE_DESTROY came.</summary>
    public override void Destroy() => _log.Info("FUSE destroy");

    public override void OnUnhandledException(string operation, Exception e)
    {
        if (LearnPoison(operation, e)) return;
        _log.Error($"{operation}: unexpected {e.GetType().Name}: {e.Message} (answered EIO)\n{e.StackTrace}");
    }

    /// <summary>Whether the kernel left the umask to the daemon (FUSE_DONT_MASK, asked for with POSIX ACLs).</summary>
    private bool _engineMasks;

    private Credentials Caller(FuseRequest req)
    {
        var c = req.Context;
        return new Credentials(c.Uid, c.Gid, c.Pid, Groups: CallerCapabilities.Groups, Umask: _engineMasks ? c.Umask : 0);
    }

    private static void Reply(FuseRequest req, Errno errno) => req.ReplyError(errno.Value);

    internal static Stat ToStat(in InodeAttributes a) => new()
    {
        Ino = a.Ino,
        Nlink = a.Nlink,
        Mode = a.Mode,
        Uid = a.Uid,
        Gid = a.Gid,
        Rdev = a.Rdev,
        Size = a.Size,
        BlkSize = 4096,
        Blocks = a.Blocks512,
        AtimeSec = FloorDiv(a.AtimeNs, out long an), AtimeNsec = an,
        MtimeSec = FloorDiv(a.MtimeNs, out long mn), MtimeNsec = mn,
        CtimeSec = FloorDiv(a.CtimeNs, out long cn), CtimeNsec = cn,
    };

    private static long FloorDiv(long ns, out long rem)
    {
        long sec = Math.DivRem(ns, 1_000_000_000L, out rem);
        if (rem < 0) { sec--; rem += 1_000_000_000L; }
        return sec;
    }

    private static FuseEntryParam Entry(in InodeAttributes a) => new()
    {
        Ino = a.Ino,
        Generation = a.Generation,
        Attr = ToStat(a),
        AttrTimeout = AttrTimeout,
        EntryTimeout = EntryTimeout,
    };

    /// <summary>
    /// Answers a request that gives the kernel a new reference (lookup, mknod, mkdir, symlink,
    /// link, create). The count is taken before the reply so that a racing forget cannot free
    /// the inode first, and given back if the kernel never got the reply (then false).
    /// </summary>
    private bool ReplyEntry(FuseRequest req, Errno errno, in InodeAttributes attr, FuseFileInfo* createFi = null)
    {
        if (errno.Failed)
        {
            Reply(req, errno);
            return false;
        }
        _fs.Retain(attr.Ino);
        var e = Entry(attr);
        int rc = createFi is null ? req.ReplyEntry(e) : req.ReplyCreate(e, createFi);
        if (rc != 0) _fs.Forget(attr.Ino);
        return rc == 0;
    }

    public override void Lookup(FuseRequest req, ulong parent, ReadOnlySpan<byte> name)
    {
        var errno = _fs.Lookup(parent, name, out var attr);
        // "." and ".." come only from the kernel's export support (file handles): the engine
        // finds the inode by number; an error is an error there, never a negative entry.
        bool byNumber = name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);
        // A name that is not there is cached too (a negative entry, node 0): the next lookup of
        // it, as every search along $PATH or an include path makes, never leaves the kernel.
        if (errno == Errno.ENOENT && !byNumber) req.ReplyEntry(new FuseEntryParam { Ino = 0, EntryTimeout = EntryTimeout });
        else ReplyEntry(req, errno, attr);
    }

    public override void Forget(ulong ino, ulong nlookup) => _fs.Forget(ino, (long)nlookup);

    public override void GetAttr(FuseRequest req, ulong ino, FuseFileInfo* fi)
    {
        var errno = _fs.GetAttr(ino, out var attr);
        if (errno.Failed) Reply(req, errno);
        else req.ReplyAttr(ToStat(attr), AttrTimeout);
    }

    /// <summary>getattr with the birth time the engine keeps for every inode (the kernel transport; statx(2) asking for STATX_BTIME).</summary>
    public override void Statx(FuseRequest req, ulong ino, uint flags, uint mask, FuseFileInfo* fi)
    {
        var errno = _fs.GetAttr(ino, out var attr);
        if (errno.Failed) Reply(req, errno);
        else req.ReplyStatx(ToStat(attr), FloorDiv(attr.BtimeNs, out long bn), bn, AttrTimeout);
    }

    public override void SetAttr(FuseRequest req, ulong ino, Stat* attr, int toSet, FuseFileInfo* fi)
    {
        var fields = (SetAttrFields)toSet & (SetAttrFields.Mode | SetAttrFields.Uid | SetAttrFields.Gid | SetAttrFields.Size
            | SetAttrFields.Atime | SetAttrFields.Mtime | SetAttrFields.AtimeNow | SetAttrFields.MtimeNow | SetAttrFields.Ctime);
        var request = new SetAttrRequest
        {
            Fields = fields,
            Mode = attr->Mode,
            Uid = attr->Uid,
            Gid = attr->Gid,
            Size = attr->Size,
            AtimeNs = attr->AtimeSec * 1_000_000_000L + attr->AtimeNsec,
            MtimeNs = attr->MtimeSec * 1_000_000_000L + attr->MtimeNsec,
            CtimeNs = attr->CtimeSec * 1_000_000_000L + attr->CtimeNsec,
        };
        // Through a descriptor (ftruncate) the kernel passes its handle: the holder's own lease is not recalled.
        ulong fh = fi is null ? 0 : fi->Fh;
        var who = Caller(req);
        var errno = _fs.SetAttr(ino, request, who, out var result, fh);
        if (errno == Errno.RetryAfterRecall) ParkSetAttr(req, ino, request, who, fh);
        else ReplySetAttr(req, errno, result);
    }

    private void ParkSetAttr(FuseRequest req, ulong ino, SetAttrRequest request, Credentials who, ulong fh)
    {
        InodeAttributes result = default;
        Park(req, "setattr", ino, () => _fs.SetAttr(ino, request, who, out result, fh), e => ReplySetAttr(req, e, result));
    }

    private static void ReplySetAttr(FuseRequest req, Errno errno, in InodeAttributes result)
    {
        if (errno.Failed) Reply(req, errno);
        else req.ReplyAttr(ToStat(result), AttrTimeout);
    }

    public override void StatFs(FuseRequest req, ulong ino)
    {
        var s = _fs.StatFs();
        req.ReplyStatFs(new StatVfs
        {
            BlockSize = (ulong)s.BlockSize,
            FragmentSize = (ulong)s.BlockSize,
            Blocks = (ulong)s.TotalBlocks,
            BlocksFree = (ulong)s.FreeBlocks,
            BlocksAvailable = (ulong)s.FreeBlocks,
            Files = (ulong)s.TotalInodes,
            FilesFree = (ulong)s.FreeInodes,
            FilesAvailable = (ulong)s.FreeInodes,
            NameMax = (ulong)s.MaxNameLength,
        });
    }

    internal static Span<byte> Rent(int size, out byte[] array)
    {
        array = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
        return array.AsSpan(0, size);
    }

    internal static void Return(byte[] array) => System.Buffers.ArrayPool<byte>.Shared.Return(array);
}

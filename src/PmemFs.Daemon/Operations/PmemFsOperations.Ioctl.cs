using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// Flag ioctls: the standard FS_IOC_GETFLAGS/SETFLAGS and FS_IOC_FSGETXATTR/FSSETXATTR (what
/// chattr, lsattr and xfs_io send; the kernel wraps each in OPEN/IOCTL/RELEASE) and PmemFs's own
/// PMEMFS_IOC_GET/SET_FLAGS (src/include/pmemfs.h); also the label ioctls
/// (PmemFsOperations.Label.cs). Every permission is checked here and in the
/// engine: the kernel checks none for PmemFs's own numbers.
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    // The kernel's FUSE fileattr code sends these numbers (the 64-bit "long" encodings) with 4
    // bytes of flags, and the fsxattr ones with the 28-byte struct fsxattr.
    private const uint FsIocGetFlags = 0x80086601, FsIocSetFlags = 0x40086602;
    private const uint FsIocGetFlags32 = 0x80046601, FsIocSetFlags32 = 0x40046602;
    private const uint FsIocFsGetXattr = 0x801C581F, FsIocFsSetXattr = 0x401C5820;
    private const int FsxattrSize = 28;

    /// <summary>The mount's granularity, for PMEMFS_IOC_GET_FLAGS (set by the daemon).</summary>
    public uint StoreGranularity { get; init; } = PmemFsIoctlAbi.GranularityPage;

    /// <summary>The session, to tell the kernel that attributes changed behind its back (a flag change sets ctime).</summary>
    public FuseSession? Session { get; set; }

    /// <summary>
    /// Whether the mount is read-only now: `mount -o remount,ro` reaches only the kernel, which
    /// checks it for the standard flag calls but not for PmemFs's own. Null: not mounted (tests).
    /// </summary>
    public Func<bool>? MountIsReadOnly { get; set; }

    public override void Ioctl(FuseRequest req, ulong ino, uint cmd, nint arg, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize)
    {
        switch (cmd)
        {
            case FsIocGetFlags or FsIocGetFlags32 when outSize >= 4:
                ReplyStandardFlags(req, ino);
                break;
            case FsIocSetFlags or FsIocSetFlags32 when input.Length >= 4:
                SetStandardFlags(req, ino, fi, StandardFlags.FromFsFlags(BinaryPrimitives.ReadUInt32LittleEndian(input)));
                break;
            case FsIocFsGetXattr when outSize >= FsxattrSize:
                ReplyFsxattr(req, ino);
                break;
            case FsIocFsSetXattr when input.Length >= FsxattrSize:
                SetFromFsxattr(req, ino, fi, input);
                break;
            case PmemFsMapAbi.GetMap or PmemFsMapAbi.PrepareWrite or PmemFsMapAbi.Bmap when TryMappingIoctl(req, ino, cmd, fi, flags, input, outSize):
                break;
            case PmemFsRegionAbi.Region when TryRegionIoctl(req, input, outSize):
                break;
            case PmemFsCloneAbi.CloneRange when TryCloneIoctl(req, ino, fi, flags, input, outSize):
                break;
            case FsIocGetFsLabel when outSize >= FsLabelMax:
                ReplyLabel(req);
                break;
            case FsIocSetFsLabel when input.Length >= FsLabelMax:
                SetLabel(req, input);
                break;
            case XfsIocGoingDown when outSize >= 4:
                GoingDown(req);
                break;
            case PmemFsPoisonAbi.Poison when TryPoisonIoctl(req, input, outSize):
                return;
            case PmemFsHealthAbi.Health when TryHealthIoctl(req, input, outSize):
                return;
            case PmemFsRmapAbi.Rmap when TryRmapIoctl(req, input, outSize):
                break;
            case PmemFsDaemonStatsAbi.DaemonStats when TryDaemonStatsIoctl(req, input, outSize):
                break;
            case PmemFsLeaseAbi.LeaseAcquire or PmemFsLeaseAbi.LeaseRelease or PmemFsLeaseAbi.Pin or PmemFsLeaseAbi.Unpin
                or PmemFsLeaseAbi.LeaseStatus or PmemFsLeaseAbi.LeaseList when TryLeaseIoctl(req, ino, cmd, fi, flags, input, outSize):
                break;
            case PmemFsIoctlAbi.GetFlags when outSize >= PmemFsInodeFlags.Size:
                ReplyPmemFsFlags(req, ino, _fs.GetFlags(ino, out var state), state);
                break;
            case PmemFsIoctlAbi.SetFlags when input.Length >= PmemFsInodeFlags.Size && outSize >= PmemFsInodeFlags.Size:
                SetPmemFsFlags(req, ino, fi, MemoryMarshal.Read<PmemFsInodeFlags>(input));
                break;
            default:
                Reply(req, Errno.ENOTTY);
                break;
        }
    }

    /// <summary>The caller with the capabilities flag changes are judged by, read now from /proc.</summary>
    private static Credentials CallerWithCapabilities(FuseRequest req)
    {
        var c = req.Context;
        return new Credentials(c.Uid, c.Gid, c.Pid, (Capabilities)CallerCapabilities.Effective(c.Pid), CallerCapabilities.Groups);
    }

    private void ReplyStandardFlags(FuseRequest req, ulong ino)
    {
        var errno = _fs.GetFlags(ino, out var state);
        if (errno.Failed) { Reply(req, errno); return; }
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, StandardFlags.ToFsFlags(state.Flags));
        req.ReplyIoctl(0, word);
    }

    private void ReplyFsxattr(FuseRequest req, ulong ino)
    {
        var errno = _fs.GetFlags(ino, out var state);
        if (errno.Failed) { Reply(req, errno); return; }
        errno = _fs.GetAttr(ino, out var attr);
        if (errno.Failed) { Reply(req, errno); return; }
        Span<byte> fsx = stackalloc byte[FsxattrSize];
        fsx.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(fsx, StandardFlags.ToXflags(state.Flags));
        BinaryPrimitives.WriteUInt32LittleEndian(fsx[8..], (uint)Math.Min(_fs.ExtentCount(ino), uint.MaxValue)); // fsx_nextents
        BinaryPrimitives.WriteUInt32LittleEndian(fsx[12..], attr.ProjectId); // fsx_projid
        req.ReplyIoctl(0, fsx);
    }

    /// <summary>struct fsxattr: xflags, extsize, nextents, projid, cowextsize, pad[8].</summary>
    private void SetFromFsxattr(FuseRequest req, ulong ino, FuseFileInfo* fi, ReadOnlySpan<byte> fsx)
    {
        uint xflags = BinaryPrimitives.ReadUInt32LittleEndian(fsx);
        uint extsize = BinaryPrimitives.ReadUInt32LittleEndian(fsx[4..]);
        uint projid = BinaryPrimitives.ReadUInt32LittleEndian(fsx[12..]);
        uint cowextsize = BinaryPrimitives.ReadUInt32LittleEndian(fsx[16..]);
        if (extsize != 0 || cowextsize != 0) { Reply(req, Errno.EINVAL); return; }
        // The project id is stored and inherited by new files (there are no project quotas).
        SetStandardFlags(req, ino, fi, StandardFlags.FromXflags(xflags), projid);
    }

    /// <summary>The standard calls carry every standard flag: set those given, clear the others; DAX_IMMUTABLE is left alone (rule 1 aside).</summary>
    private void SetStandardFlags(FuseRequest req, ulong ino, FuseFileInfo* fi, InodeFlags? wanted, uint? projectId = null)
    {
        if (wanted is not { } flags) { Reply(req, Errno.EOPNOTSUPP); return; }
        var who = CallerWithCapabilities(req);
        ulong fh = fi is null ? 0 : fi->Fh;
        var errno = _fs.SetFlags(ino, flags, StandardFlags.All & ~flags, who, out _, projectId, fh);
        // Clearing DAX recalls the file's leases: parked until they end.
        if (errno == Errno.RetryAfterRecall)
            Park(req, "flag change", ino, () => _fs.SetFlags(ino, flags, StandardFlags.All & ~flags, who, out _, projectId, fh), e => ReplyStandardSet(req, ino, e));
        else ReplyStandardSet(req, ino, errno);
    }

    private void ReplyStandardSet(FuseRequest req, ulong ino, Errno errno)
    {
        if (errno.Failed)
        {
            LogRefusal(req, ino, "flags", errno);
            Reply(req, errno);
        }
        else
        {
            req.ReplyIoctl(0, []);
            AttributesChanged(ino);
        }
    }

    /// <summary>
    /// ctime changed, and the kernel caches attributes for the attribute timeout: drop them
    /// (attributes only, offset -1: nothing waits on page locks, so this is safe from inside a
    /// request of the single-threaded loop).
    /// </summary>
    private void AttributesChanged(ulong ino) => Session?.InvalidateInode(ino, -1, 0);

    private void SetPmemFsFlags(FuseRequest req, ulong ino, FuseFileInfo* fi, PmemFsInodeFlags args)
    {
        if (args.Version != PmemFsIoctlAbi.Version || args.Reserved0 != 0 || args.Health != 0 || args.SickFiles != 0 || args.QuarantinedSlots != 0
            || ((args.Set | args.Clear) & ~PmemFsIoctlAbi.FlAll) != 0 || (args.Set & args.Clear) != 0)
        {
            Reply(req, Errno.EINVAL);
            return;
        }
        if (MountIsReadOnly?.Invoke() == true) { Reply(req, Errno.EROFS); return; }
        var who = CallerWithCapabilities(req);
        ulong fh = fi is null ? 0 : fi->Fh;
        var errno = _fs.SetFlags(ino, (InodeFlags)args.Set, (InodeFlags)args.Clear, who, out var state, handle: fh);
        if (errno == Errno.RetryAfterRecall)
        {
            FlagState after = default;
            Park(req, "flag change", ino, () => _fs.SetFlags(ino, (InodeFlags)args.Set, (InodeFlags)args.Clear, who, out after, handle: fh),
                e => ReplyPmemFsSet(req, ino, e, after));
        }
        else ReplyPmemFsSet(req, ino, errno, state);
    }

    private void ReplyPmemFsSet(FuseRequest req, ulong ino, Errno errno, in FlagState state)
    {
        if (errno.Failed) LogRefusal(req, ino, "PmemFs flags", errno);
        ReplyPmemFsFlags(req, ino, errno, state);
        if (errno.IsOk) AttributesChanged(ino);
    }

    private void ReplyPmemFsFlags(FuseRequest req, ulong ino, Errno errno, in FlagState state)
    {
        if (errno.Failed) { Reply(req, errno); return; }
        var reply = new PmemFsInodeFlags
        {
            Version = PmemFsIoctlAbi.Version,
            Flags = (ulong)state.Flags & PmemFsIoctlAbi.FlAll,
            State = (state.DaxNow ? PmemFsIoctlAbi.StateDax : 0)
                | (state.CanBeDax ? PmemFsIoctlAbi.StateCanDax : 0)
                | (state.DaxPending ? PmemFsIoctlAbi.StateDaxPending : 0),
            DaxMode = (uint)_fs.Options.Dax,
            Granularity = StoreGranularity,
            Health = (ulong)_fs.Health.State,
            SickFiles = (uint)Math.Min(_fs.Health.SickCount, uint.MaxValue),
            QuarantinedSlots = (uint)Math.Min(_fs.Health.QuarantinedCount, uint.MaxValue),
        };
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsInodeFlags>(in reply)));
    }

    /// <summary>Refusals of flag changes are rare and worth a line: an administrator will ask why.</summary>
    private void LogRefusal(FuseRequest req, ulong ino, string what, Errno errno)
    {
        var c = req.Context;
        _log.Info($"inode {ino}: {what} change by uid {c.Uid} pid {c.Pid} refused: {errno}");
    }
}

/// <summary>The Linux flag words (FS_*_FL and FS_XFLAG_*) against PmemFs's persisted flags.</summary>
public static class StandardFlags
{
    /// <summary>Every flag the standard calls can express (not DAX_IMMUTABLE).</summary>
    public const InodeFlags All = InodeFlags.Immutable | InodeFlags.Append | InodeFlags.NoAtime | InodeFlags.Sync | InodeFlags.NoDump | InodeFlags.Dax;

    private static readonly (InodeFlags Flag, uint Fs, uint X)[] Table =
    [
        (InodeFlags.Immutable, 0x10, 0x8),
        (InodeFlags.Append, 0x20, 0x10),
        (InodeFlags.NoDump, 0x40, 0x80),
        (InodeFlags.NoAtime, 0x80, 0x40),
        (InodeFlags.Sync, 0x8, 0x20),
        (InodeFlags.Dax, 0x02000000, 0x8000),
    ];

    public static uint ToFsFlags(InodeFlags flags) => Table.Where(t => flags.HasFlag(t.Flag)).Aggregate(0u, (w, t) => w | t.Fs);

    public static uint ToXflags(InodeFlags flags) => Table.Where(t => flags.HasFlag(t.Flag)).Aggregate(0u, (w, t) => w | t.X);

    /// <summary>The flags a FS_IOC_SETFLAGS word asks for, or null when it has a bit PmemFs does not support.</summary>
    public static InodeFlags? FromFsFlags(uint word) => From(word, t => t.Fs);

    public static InodeFlags? FromXflags(uint word) => From(word, t => t.X);

    private static InodeFlags? From(uint word, Func<(InodeFlags Flag, uint Fs, uint X), uint> bit)
    {
        var flags = InodeFlags.None;
        foreach (var t in Table)
        {
            if ((word & bit(t)) == 0) continue;
            flags |= t.Flag;
            word &= ~bit(t);
        }
        return word == 0 ? flags : null;
    }
}

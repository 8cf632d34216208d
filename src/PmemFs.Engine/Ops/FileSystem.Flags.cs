using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>An inode's flags and what they mean on this mount right now.</summary>
/// <param name="Flags">The persisted flags.</param>
/// <param name="DaxNow">The file is DAX now (eligible for direct access).</param>
/// <param name="CanBeDax">The file could be DAX: a regular file (shared extents are no obstacle: docs/sharing.md).</param>
/// <param name="DaxPending">A DAX change waits for the file's last close.</param>
public readonly record struct FlagState(InodeFlags Flags, bool DaxNow, bool CanBeDax, bool DaxPending);

/// <summary>
/// Tells whether a file is mapped by any process (or, later, leased). FUSE never reports
/// mmap, so the adapter supplies this (docs/flags.md says how, and its limits).
/// </summary>
public interface IMappingProbe
{
    /// <summary>True when some process maps the file, or when that cannot be ruled out.</summary>
    bool IsMapped(ulong ino);
}

public sealed partial class FileSystem
{
    /// <summary>Flags that need CAP_LINUX_IMMUTABLE to set or clear.</summary>
    private const InodeFlags GuardedFlags = InodeFlags.Immutable | InodeFlags.Append | InodeFlags.DaxImmutable;

    /// <summary>Who answers "is this file mapped?" for rule 6; none means nothing is ever mapped (engine tests).</summary>
    public IMappingProbe? Mappings { get; set; }

    public Errno GetFlags(ulong ino, out FlagState state)
    {
        state = default;
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterReadLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                state = FlagStateOf(inode);
                return Errno.Ok;
            }
            finally { inode.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    /// <summary>
    /// Sets <paramref name="set"/> and clears <paramref name="clear"/> as one durable change
    /// (with the ctime), after every rule of docs/flags.md: ownership, CAP_LINUX_IMMUTABLE,
    /// DAX_IMMUTABLE's rules 1, 2 and 6. <paramref name="projectId"/>, when given, changes the
    /// project id in the same transaction (FS_IOC_FSSETXATTR carries both), except on a file
    /// that is immutable, append-only or DAX_IMMUTABLE.
    /// </summary>
    /// <remarks>
    /// Leases: clearing DAX_IMMUTABLE (or DAX, which clears it) fails with EBUSY while any lease
    /// of the file is held (rule 6), whoever holds it. A change that ends the file's DAX state
    /// (clearing DAX under dax=inode) breaks every other handle's lease of the whole file first
    /// (ETXTBSY when pinned, <see cref="Errno.RetryAfterRecall"/> while recalled);
    /// <paramref name="handle"/> is the ioctl's open handle, whose own leases stay until it
    /// closes (the file stays DAX until its last close anyway).
    /// </remarks>
    public Errno SetFlags(ulong ino, InodeFlags set, InodeFlags clear, Credentials who, out FlagState state, uint? projectId = null, ulong handle = 0)
    {
        state = default;
        if (((set | clear) & ~InodeFlags.Known) != 0 || (set & clear) != 0) return Errno.EINVAL;
        if (Options.ReadOnly) return Errno.EROFS;
        try
        {
            var inode = Get(ino);
            // Looking for mappings reads other processes' /proc files: do it before taking the
            // lock when the flag is (probably) going away, so a faulting reader is not blocked on us.
            bool? mapped = ClearsDaxImmutable(FlagRules.Of(inode), set, clear) ? Mappings?.IsMapped(ino) ?? false : null;
            inode.Lock.EnterWriteLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                var old = FlagRules.Of(inode);
                var now = (old | set) & ~clear;
                // Rule 1: DAX_IMMUTABLE needs DAX (asking for both at once is fine); clearing DAX clears it.
                if (set.HasFlag(InodeFlags.DaxImmutable) && !now.HasFlag(InodeFlags.Dax)) return Errno.EINVAL;
                if (!now.HasFlag(InodeFlags.Dax)) now &= ~InodeFlags.DaxImmutable;

                if (who.Uid != inode.Rec.Uid && !who.Has(Capabilities.Fowner)) return Errno.EPERM;
                uint project = projectId ?? inode.Rec.ProjectId;
                if (project != inode.Rec.ProjectId && (old & (InodeFlags.Immutable | InodeFlags.Append | InodeFlags.DaxImmutable)) != 0)
                    return Errno.EPERM;
                if (now == old && project == inode.Rec.ProjectId)
                {
                    state = FlagStateOf(inode);
                    return Errno.Ok;
                }
                var check = CheckFlagChange(inode, old, now, who);
                if (check.Failed) return check;
                if (old.HasFlag(InodeFlags.DaxImmutable) && !now.HasFlag(InodeFlags.DaxImmutable)
                    && ((mapped ?? Mappings?.IsMapped(ino) ?? false) || Leases.HasLeases(ino)))
                    return Errno.EBUSY; // rule 6
                if (WantsDax(inode) && !WantsDax(inode, now))
                {
                    var broken = Leases.BreakLayouts(ino, FileRange.WholeFile, handle);
                    if (!broken.MayProceed) return broken.Errno;
                }

                bool daxBefore = DaxNow(inode);
                using var tx = Txn.Begin(this);
                var rec = inode.Rec;
                rec.Flags = (ulong)now;
                rec.ProjectId = project;
                rec.CtimeNs = Now();
                LogInode(tx, rec);
                tx.OnCommitStore(inode, rec);
                tx.Commit();
                HoldDaxUntilClose(inode, daxBefore);
                state = FlagStateOf(inode);
                return Errno.Ok;
            }
            finally { inode.Lock.ExitWriteLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }

    private static bool ClearsDaxImmutable(InodeFlags old, InodeFlags set, InodeFlags clear) =>
        old.HasFlag(InodeFlags.DaxImmutable) && (clear & (InodeFlags.Dax | InodeFlags.DaxImmutable)) != 0;

    /// <summary>Type, capability and allocation rules for going from <paramref name="old"/> to <paramref name="now"/>.</summary>
    private Errno CheckFlagChange(Inode inode, InodeFlags old, InodeFlags now, Credentials who)
    {
        var added = now & ~old;
        if (added.HasFlag(InodeFlags.Dax) && !inode.IsRegular && !inode.IsDirectory) return Errno.EINVAL;
        if (added.HasFlag(InodeFlags.DaxImmutable) && !inode.IsRegular) return Errno.EINVAL;
        // Immutable, append and DAX_IMMUTABLE, and any change at all to an immutable or
        // append-only file, need CAP_LINUX_IMMUTABLE (as XFS decides it).
        bool guarded = ((old ^ now) & GuardedFlags) != 0 || (old & (InodeFlags.Immutable | InodeFlags.Append)) != 0;
        if (guarded && !who.Has(Capabilities.LinuxImmutable)) return Errno.EPERM;
        if (added.HasFlag(InodeFlags.DaxImmutable) && (FlagRules.WhyNotFullyWritten(inode, Bs) is not null || FirstSharedBlock(inode) is not null)) return Errno.EINVAL; // rule 2
        return Errno.Ok;
    }

    /// <summary>Extents in the file's block map (FS_IOC_FSGETXATTR's fsx_nextents); 0 for a stale inode.</summary>
    public long ExtentCount(ulong ino)
    {
        var inode = InodeAt(ino);
        if (inode is null) return 0;
        inode.Lock.EnterReadLock();
        try { return inode.Extents.Count; }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <summary>The reason DAX_IMMUTABLE cannot be set on <paramref name="ino"/> now, or null (for messages and tests).</summary>
    public string? WhyNotFullyWritten(ulong ino)
    {
        var inode = Get(ino);
        inode.Lock.EnterReadLock();
        try { return FlagRules.WhyNotFullyWritten(inode, Bs) ?? (FirstSharedBlock(inode) is { } b ? $"shared blocks at block {b}" : null); }
        finally { inode.Lock.ExitReadLock(); }
    }

    private FlagState FlagStateOf(Inode inode)
    {
        bool now = DaxNow(inode);
        return new FlagState(FlagRules.Of(inode), now, CanBeDax(inode), now != WantsDax(inode));
    }

    /// <summary>A regular file can be DAX, shared extents or not (prepare-write unshares what a direct-access client will store to).</summary>
    private static bool CanBeDax(Inode inode) => inode.IsRegular;

    /// <summary>What the flag and the mount's dax= mode make of the file, once nobody has it open.</summary>
    internal bool WantsDax(Inode inode) => WantsDax(inode, FlagRules.Of(inode));

    /// <summary>What <paramref name="flags"/> and the mount's dax= mode would make of the file.</summary>
    private bool WantsDax(Inode inode, InodeFlags flags) => CanBeDax(inode) && Options.Dax switch
    {
        DaxMode.Always => true,
        DaxMode.Never => false,
        _ => flags.HasFlag(InodeFlags.Dax),
    };

    /// <summary>Whether the file is DAX now: what it was when opened, until its last close.</summary>
    internal bool DaxNow(Inode inode) => inode.DaxHeldUntilClose ?? WantsDax(inode);

    /// <summary>A change of DAX while the file is open takes effect at the last close (Linux's I_DONTCACHE).</summary>
    private void HoldDaxUntilClose(Inode inode, bool daxBefore)
    {
        if (Interlocked.Read(ref inode.OpenHandles) > 0 && inode.DaxHeldUntilClose is null && daxBefore != WantsDax(inode))
            inode.DaxHeldUntilClose = daxBefore;
    }

    /// <summary>
    /// open(2) of a file that is not a directory: immutable refuses write access, append-only
    /// needs O_APPEND for it (DAX_IMMUTABLE allows it: shared writable mappings need it). On
    /// success the handle is counted (as <see cref="Opened"/>), checked and counted under one
    /// lock. Truncation on open arrives as a setattr, which applies its own rules.
    /// </summary>
    public Errno Open(ulong ino, bool write, bool append)
    {
        try
        {
            var inode = Get(ino);
            inode.Lock.EnterReadLock();
            try
            {
                if (inode.Freed) return Errno.ESTALE;
                if (inode.IsDirectory) return Errno.EISDIR;
                FlagRules.CheckOpen(inode, write, append);
                Interlocked.Increment(ref inode.OpenHandles);
                return Errno.Ok;
            }
            finally { inode.Lock.ExitReadLock(); }
        }
        catch (ErrnoException e) { return e.Errno; }
    }
}

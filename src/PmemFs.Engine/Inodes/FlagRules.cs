using PmemFs.Format;

namespace PmemFs.Engine.Inodes;

/// <summary>
/// What immutable (i), append-only (a) and DAX_IMMUTABLE forbid, one check per kind of change.
/// The kernel enforces none of it on a FUSE inode (it never sets S_IMMUTABLE or S_APPEND), so
/// every engine operation calls the check for its kind under the inode's lock. Each throws
/// EPERM, as Linux does; docs/flags.md has the table.
/// </summary>
// Bit tests rather than Enum.HasFlag: this is on every write, and HasFlag boxed in the
// ReadyToRun code the daemon starts with (three heap objects per write, measured).
internal static class FlagRules
{
    private const InodeFlags Frozen = InodeFlags.Immutable | InodeFlags.Append | InodeFlags.DaxImmutable;

    public static InodeFlags Of(Inode inode) => (InodeFlags)inode.Rec.Flags;

    public static bool IsDaxImmutable(Inode inode) => (Of(inode) & InodeFlags.DaxImmutable) != 0;

    /// <summary>Unlink, rmdir, rename away, or replacement by a rename: the name's inode and its directory.</summary>
    public static void CheckRemove(Inode dir, Inode victim)
    {
        if ((Of(dir) & (InodeFlags.Immutable | InodeFlags.Append)) != 0) throw Denied();
        if ((Of(victim) & Frozen) != 0) throw Denied();
    }

    /// <summary>A new name in <paramref name="dir"/> (create, mkdir, link, rename into it).</summary>
    public static void CheckAddEntry(Inode dir)
    {
        if ((Of(dir) & InodeFlags.Immutable) != 0) throw Denied();
    }

    /// <summary>link(2) of <paramref name="target"/>: a new name changes its link count.</summary>
    public static void CheckLinkTarget(Inode target)
    {
        if ((Of(target) & Frozen) != 0) throw Denied();
    }

    /// <summary>Setting or removing an extended attribute.</summary>
    public static void CheckXattrChange(Inode inode)
    {
        if ((Of(inode) & Frozen) != 0) throw Denied();
    }

    /// <summary>
    /// setattr. Append-only allows "now" times (touch) and the kernel's own dropping of
    /// suid/sgid; immutable and DAX_IMMUTABLE allow nothing.
    /// </summary>
    public static void CheckSetAttr(Inode inode, SetAttrFields fields, bool onlyDropsPrivileges)
    {
        var flags = Of(inode);
        if ((flags & (InodeFlags.Immutable | InodeFlags.DaxImmutable)) != 0)
        {
            if ((fields & ~SetAttrFields.Ctime) != 0) throw Denied();
            return;
        }
        if ((flags & InodeFlags.Append) == 0) return;
        var explicitChange = fields & (SetAttrFields.Uid | SetAttrFields.Gid | SetAttrFields.Size);
        if ((fields & SetAttrFields.Mode) != 0 && !onlyDropsPrivileges) explicitChange |= SetAttrFields.Mode;
        if ((fields & SetAttrFields.Atime) != 0 && (fields & SetAttrFields.AtimeNow) == 0) explicitChange |= SetAttrFields.Atime;
        if ((fields & SetAttrFields.Mtime) != 0 && (fields & SetAttrFields.MtimeNow) == 0) explicitChange |= SetAttrFields.Mtime;
        if (explicitChange != 0) throw Denied();
    }

    /// <summary>fallocate: append-only allows only allocation (modes 0 and KEEP_SIZE).</summary>
    public static void CheckFallocate(Inode inode, FallocateMode mode)
    {
        var flags = Of(inode);
        if ((flags & (InodeFlags.Immutable | InodeFlags.DaxImmutable)) != 0) throw Denied();
        if ((flags & InodeFlags.Append) != 0 && (mode & ~FallocateMode.KeepSize) != 0) throw Denied();
    }

    /// <summary>
    /// A data write. DAX_IMMUTABLE takes only the kernel's writeback of a shared mapping (rule
    /// 5); append-only takes only writes at or past EOF.
    /// </summary>
    public static void CheckWrite(Inode inode, long offset, WriteOrigin origin)
    {
        var flags = Of(inode);
        if ((flags & InodeFlags.Immutable) != 0) throw Denied();
        if ((flags & InodeFlags.DaxImmutable) != 0 && origin != WriteOrigin.MappedWriteback) throw Denied();
        if ((flags & InodeFlags.Append) != 0 && offset < inode.Rec.Size) throw Denied();
    }

    /// <summary>open(2): write access as the flags allow (DAX_IMMUTABLE may be opened for writing, to map it).</summary>
    public static void CheckOpen(Inode inode, bool write, bool append)
    {
        var flags = Of(inode);
        if (write && (flags & InodeFlags.Immutable) != 0) throw Denied();
        if (write && !append && (flags & InodeFlags.Append) != 0) throw Denied();
    }

    /// <summary>
    /// Rule 2 of DAX_IMMUTABLE: every block of [0, size) mapped and written, and nothing
    /// unwritten anywhere (preallocation past EOF included). No extent is shared yet.
    /// Returns why not, or null.
    /// </summary>
    public static string? WhyNotFullyWritten(Inode inode, int blockSize)
    {
        long needed = (inode.Rec.Size + blockSize - 1) / blockSize;
        long next = 0;
        foreach (var e in inode.Extents.All)
        {
            if (e.State != ExtentState.Written) return $"unwritten extent at block {e.FileBlock}";
            if (e.FileBlock > next && next < needed) return $"hole at block {next}";
            next = Math.Max(next, e.FileEnd);
        }
        return next < needed ? $"hole at block {next}" : null;
    }

    private static ErrnoException Denied() => new(Errno.EPERM);
}

using PmemFs.Engine.Inodes;
using PmemFs.Format;

namespace PmemFs.Engine.Acl;

/// <summary>
/// The one place where mode and POSIX ACLs are kept in step, consulted by the engine's xattr
/// (<see cref="Set"/>), attribute (<see cref="AfterChmod"/>) and namespace
/// (<see cref="Inherit"/>) operations, each inside that operation's single transaction. The
/// rules are Linux's (fs/posix_acl.c), applied here because the kernel leaves them to a FUSE
/// daemon that asks for FUSE_POSIX_ACL: it enforces and caches the ACLs, the daemon stores them.
/// </summary>
/// <remarks>
/// Stored form: the access ACL only when it says more than the mode (an ACL equivalent to the
/// mode is no xattr at all, as on ext4/XFS/tmpfs), the default ACL only on directories. While an
/// access ACL is stored, its USER_OBJ, MASK (GROUP_OBJ without a mask) and OTHER entries equal the
/// mode's permission bits: fsck checks that.
/// </remarks>
internal static class AclRules
{
    private const uint SetGid = 0x400, PermissionBits = 0x1FF;

    /// <summary>What setting or removing an ACL xattr does: the value to store under the name (null: none) and the new mode.</summary>
    public readonly record struct Change(bool Changes, byte[]? Stored, uint Mode);

    /// <summary>
    /// setxattr (<paramref name="value"/> given) or removexattr (null) of an ACL name, as Linux's
    /// vfs_set_acl / vfs_remove_acl and posix_acl_update_mode: owner or CAP_FOWNER (EPERM), no ACLs on
    /// symlinks (EOPNOTSUPP), a default ACL only on a directory (EACCES; removing one elsewhere is a
    /// no-op), a header without entries removes; an access ACL sets the mode's permission bits,
    /// is stored only when it says more than the mode, and clears setgid when the caller is
    /// neither in the file's group nor has CAP_FSETID. Removing an ACL that is not there succeeds.
    /// </summary>
    public static Errno Set(Inode inode, ReadOnlySpan<byte> name, byte[]? value, Credentials who, out Change change)
    {
        uint mode = inode.Rec.Mode;
        change = new Change(false, null, mode);
        bool isDefault = name.SequenceEqual(DiskPosixAcl.DefaultName);
        PosixAcl? acl = null;
        // In Linux's order: the value is parsed by setxattr(2) itself, then vfs_set_acl checks.
        if (value is not null)
        {
            var parsed = PosixAcl.Parse(value, out acl);
            if (parsed.Failed) return parsed;
        }
        if (inode.Rec.FileType == FileTypes.Symlink) return Errno.EOPNOTSUPP;
        if (isDefault && !inode.IsDirectory) return acl is null ? Errno.Ok : Errno.EACCES;
        if (who.Uid != inode.Rec.Uid && !who.Has(Capabilities.Fowner)) return Errno.EPERM;
        bool present = Find(inode.Xattrs, name) is not null;
        if (acl is null)
        {
            change = new Change(present, null, mode);
            return Errno.Ok;
        }
        if (isDefault)
        {
            change = new Change(true, acl.ToXattr(), mode);
            return Errno.Ok;
        }
        bool equivalent = acl.EquivalentMode(ref mode);
        if ((mode & SetGid) != 0 && !who.InGroup(inode.Rec.Gid) && !who.Has(Capabilities.Fsetid)) mode &= ~SetGid;
        change = new Change(true, equivalent ? null : acl.ToXattr(), mode);
        return Errno.Ok;
    }

    /// <summary>
    /// posix_acl_chmod: the access ACL after the mode became <paramref name="mode"/>, or null when
    /// there is none. EUCLEAN when the stored one does not parse (fsck's finding).
    /// </summary>
    public static Errno AfterChmod(Inode inode, uint mode, out byte[]? access)
    {
        access = null;
        var stored = Find(inode.Xattrs, DiskPosixAcl.AccessName);
        if (stored is null) return Errno.Ok;
        if (PosixAcl.Parse(stored, out var acl).Failed || acl is null) return Errno.EUCLEAN;
        access = acl.Chmod(mode).ToXattr();
        return Errno.Ok;
    }

    /// <summary>
    /// posix_acl_create for a new inode of <paramref name="mode"/> (type included) in
    /// <paramref name="dir"/>: with a default ACL there, the access ACL is that default masked by
    /// the mode (and the mode by it), a directory inherits the default too, and the umask is not
    /// applied; without one, mode &amp;= ~umask. Symlinks take neither (always 0777). Returns the
    /// xattrs the new inode starts with (null: none).
    /// </summary>
    public static Errno Inherit(Inode dir, ref uint mode, uint umask, out List<KeyValuePair<byte[], byte[]>>? xattrs)
    {
        xattrs = null;
        uint type = mode & FileTypes.Mask;
        if (type == FileTypes.Symlink) return Errno.Ok;
        var stored = Find(dir.Xattrs, DiskPosixAcl.DefaultName);
        if (stored is null)
        {
            mode &= ~(umask & PermissionBits);
            return Errno.Ok;
        }
        if (PosixAcl.Parse(stored, out var def).Failed || def is null) return Errno.EUCLEAN;
        var access = def.CreateMasked(ref mode);
        xattrs = [];
        if (access is not null) xattrs.Add(new(DiskPosixAcl.AccessName.ToArray(), access.ToXattr()));
        if (type == FileTypes.Directory) xattrs.Add(new(DiskPosixAcl.DefaultName.ToArray(), (byte[])stored.Clone()));
        if (xattrs.Count == 0) xattrs = null;
        return Errno.Ok;
    }

    /// <summary>Sets (or with null removes) <paramref name="name"/> in an xattr list; a set name goes last, as it always has.</summary>
    public static void Put(List<KeyValuePair<byte[], byte[]>> list, ReadOnlySpan<byte> name, byte[]? value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (!name.SequenceEqual(list[i].Key)) continue;
            list.RemoveAt(i);
            break;
        }
        if (value is not null) list.Add(new(name.ToArray(), value));
    }

    private static byte[]? Find(List<KeyValuePair<byte[], byte[]>>? list, ReadOnlySpan<byte> name)
    {
        if (list is null) return null;
        foreach (var kv in list)
            if (name.SequenceEqual(kv.Key)) return kv.Value;
        return null;
    }
}

using PmemFs.Format;

namespace PmemFs.Engine.Acl;

/// <summary>
/// A POSIX ACL in memory and the kernel's mode algebra over it (fs/posix_acl.c): which mode an
/// access ACL implies and whether it says more than the mode (<see cref="EquivalentMode"/>), what
/// chmod does to it (<see cref="Chmod"/>), and what a new inode gets from its directory's default
/// ACL (<see cref="CreateMasked"/>). Pure functions: <see cref="AclRules"/> decides when they apply.
/// </summary>
public sealed class PosixAcl
{
    private const uint Rwx = 7, PermissionBits = 0x1FF; // S_IRWXO, S_IRWXUGO

    private readonly AclEntry[] _entries;

    private PosixAcl(AclEntry[] entries) => _entries = entries;

    public ReadOnlySpan<AclEntry> Entries => _entries;

    /// <summary>
    /// Parses an xattr value as Linux's posix_acl_from_xattr + posix_acl_valid do: EOPNOTSUPP for
    /// another version, EINVAL for anything malformed; <paramref name="acl"/> is null for a header
    /// without entries (which Linux takes as "remove the ACL").
    /// </summary>
    public static Errno Parse(ReadOnlySpan<byte> value, out PosixAcl? acl)
    {
        acl = null;
        switch (DiskPosixAcl.Decode(value, out var entries))
        {
            case AclVerdict.Ok: acl = new PosixAcl(entries); return Errno.Ok;
            case AclVerdict.Empty: return Errno.Ok;
            case AclVerdict.BadVersion: return Errno.EOPNOTSUPP;
            default: return Errno.EINVAL;
        }
    }

    /// <summary>The three-entry ACL a mode stands for (USER_OBJ, GROUP_OBJ, OTHER).</summary>
    public static PosixAcl FromMode(uint mode) => new(
    [
        new AclEntry(AclTag.UserObj, (ushort)((mode >> 6) & Rwx)),
        new AclEntry(AclTag.GroupObj, (ushort)((mode >> 3) & Rwx)),
        new AclEntry(AclTag.Other, (ushort)(mode & Rwx)),
    ]);

    public byte[] ToXattr() => DiskPosixAcl.Encode(_entries);

    /// <summary>
    /// posix_acl_equiv_mode: the permission bits this access ACL implies (group bits from MASK when
    /// there is one), put into <paramref name="mode"/>; true when the ACL says no more than that
    /// (only USER_OBJ, GROUP_OBJ, OTHER), so it need not be stored.
    /// </summary>
    public bool EquivalentMode(ref uint mode)
    {
        mode = (mode & ~PermissionBits) | DiskPosixAcl.ImpliedMode(_entries, out bool equivalent);
        return equivalent;
    }

    /// <summary>__posix_acl_chmod: USER_OBJ, MASK (GROUP_OBJ without one) and OTHER take the mode's bits; named entries stay.</summary>
    public PosixAcl Chmod(uint mode)
    {
        var e = (AclEntry[])_entries.Clone();
        int mask = Array.FindIndex(e, x => x.Tag == AclTag.Mask);
        for (int i = 0; i < e.Length; i++)
        {
            e[i] = e[i].Tag switch
            {
                AclTag.UserObj => e[i] with { Perm = (ushort)((mode >> 6) & Rwx) },
                AclTag.GroupObj when mask < 0 => e[i] with { Perm = (ushort)((mode >> 3) & Rwx) },
                AclTag.Mask => e[i] with { Perm = (ushort)((mode >> 3) & Rwx) },
                AclTag.Other => e[i] with { Perm = (ushort)(mode & Rwx) },
                _ => e[i],
            };
        }
        return new PosixAcl(e);
    }

    /// <summary>
    /// posix_acl_create_masq: this (a directory's default ACL) masked by the requested
    /// <paramref name="mode"/>, and the mode masked by it. Returns the new inode's access ACL,
    /// or null when it is equivalent to the resulting mode. Bits above the permissions (setuid,
    /// setgid, sticky) are kept as requested.
    /// </summary>
    public PosixAcl? CreateMasked(ref uint mode)
    {
        var e = (AclEntry[])_entries.Clone();
        uint m = mode;
        int groupObj = -1, maskAt = -1;
        bool equivalent = true;
        for (int i = 0; i < e.Length; i++)
        {
            switch (e[i].Tag)
            {
                case AclTag.UserObj:
                    e[i] = e[i] with { Perm = (ushort)(e[i].Perm & ((m >> 6) & Rwx)) };
                    m &= ((uint)e[i].Perm << 6) | ~(Rwx << 6);
                    break;
                case AclTag.Other:
                    e[i] = e[i] with { Perm = (ushort)(e[i].Perm & (m & Rwx)) };
                    m &= e[i].Perm | ~Rwx;
                    break;
                case AclTag.GroupObj: groupObj = i; break;
                case AclTag.Mask: maskAt = i; equivalent = false; break;
                default: equivalent = false; break;
            }
        }
        int g = maskAt >= 0 ? maskAt : groupObj;
        e[g] = e[g] with { Perm = (ushort)(e[g].Perm & ((m >> 3) & Rwx)) };
        m &= ((uint)e[g].Perm << 3) | ~(Rwx << 3);
        mode = (mode & ~PermissionBits) | (m & PermissionBits);
        return equivalent ? null : new PosixAcl(e);
    }
}

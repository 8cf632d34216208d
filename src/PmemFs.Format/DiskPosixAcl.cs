using System.Buffers.Binary;

namespace PmemFs.Format;

/// <summary>A POSIX ACL entry's tag (linux/posix_acl.h values, as in the xattr).</summary>
public enum AclTag : ushort
{
    UserObj = 0x01,
    User = 0x02,
    GroupObj = 0x04,
    Group = 0x08,
    Mask = 0x10,
    Other = 0x20,
}

/// <summary>One ACL entry in memory: tag, rwx bits (0..7), and the uid/gid of a named entry.</summary>
public readonly record struct AclEntry(AclTag Tag, ushort Perm, uint Id = DiskPosixAcl.UndefinedId)
{
    public bool IsNamed => Tag is AclTag.User or AclTag.Group;
}

/// <summary>What decoding an ACL xattr value found.</summary>
public enum AclVerdict
{
    Ok,
    /// <summary>A header and no entries: setting it removes the ACL (Linux's posix_acl_from_xattr gives NULL).</summary>
    Empty,
    /// <summary>The header's version is not 2: Linux answers EOPNOTSUPP.</summary>
    BadVersion,
    /// <summary>Too short, or not a whole number of entries: EINVAL.</summary>
    BadSize,
    /// <summary>Entries that posix_acl_valid refuses (order, missing or repeated entries, bad tag or perm, uid -1): EINVAL.</summary>
    Invalid,
}

/// <summary>
/// The value of system.posix_acl_access / system.posix_acl_default, stored in the xattr blob
/// exactly as Linux's posix_acl_xattr (the form the kernel sends a FUSE daemon and getfacl reads):
/// </summary>
/// <remarks>
/// <code>
///   offset 0  u32 a_version = 2
///   then n entries of 8 bytes:  u16 e_tag | u16 e_perm | u32 e_id   (little-endian)
/// </code>
/// e_id is the uid (USER) or gid (GROUP); the *_OBJ, MASK and OTHER entries carry
/// ACL_UNDEFINED_ID (0xFFFFFFFF). Valid means what the kernel's posix_acl_valid checks: tags in
/// the order USER_OBJ, USER*, GROUP_OBJ, GROUP*, MASK, OTHER, exactly one of each *_OBJ and
/// OTHER, at most one MASK and one when there is a named entry, perms within rwx, named ids not
/// -1. Named ids need not be sorted or distinct (measured: tmpfs on Linux 6.18 takes both).
/// </remarks>
public static class DiskPosixAcl
{
    public const uint Version = 2;
    public const int HeaderSize = 4, EntrySize = 8;
    public const uint UndefinedId = uint.MaxValue;
    /// <summary>Linux's limit on entries (posix_acl_xattr_count is bounded by the 64 KiB xattr value).</summary>
    public const int MaxEntries = (FormatConstants.MaxXattrValue - HeaderSize) / EntrySize;

    public static ReadOnlySpan<byte> AccessName => "system.posix_acl_access"u8;
    public static ReadOnlySpan<byte> DefaultName => "system.posix_acl_default"u8;

    public static bool IsAclName(ReadOnlySpan<byte> name) => name.SequenceEqual(AccessName) || name.SequenceEqual(DefaultName);

    public static AclVerdict Decode(ReadOnlySpan<byte> src, out AclEntry[] entries)
    {
        entries = [];
        if (src.Length < HeaderSize) return AclVerdict.BadSize;
        if (BinaryPrimitives.ReadUInt32LittleEndian(src) != Version) return AclVerdict.BadVersion;
        if ((src.Length - HeaderSize) % EntrySize != 0) return AclVerdict.BadSize;
        int count = (src.Length - HeaderSize) / EntrySize;
        if (count == 0) return AclVerdict.Empty;
        var list = new AclEntry[count];
        for (int i = 0; i < count; i++)
        {
            var e = src.Slice(HeaderSize + i * EntrySize, EntrySize);
            var tag = (AclTag)BinaryPrimitives.ReadUInt16LittleEndian(e);
            ushort perm = BinaryPrimitives.ReadUInt16LittleEndian(e[2..]);
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
            // The kernel keeps the id of named entries only; the others read back as undefined.
            list[i] = new AclEntry(tag, perm, tag is AclTag.User or AclTag.Group ? id : UndefinedId);
        }
        if (!IsValid(list)) return AclVerdict.Invalid;
        entries = list;
        return AclVerdict.Ok;
    }

    /// <summary>The kernel's posix_acl_valid (for the initial user namespace).</summary>
    public static bool IsValid(ReadOnlySpan<AclEntry> entries)
    {
        int state = 0; // index into Order: tags must not go backwards
        bool needsMask = false, hasMask = false;
        int userObj = 0, groupObj = 0, other = 0;
        foreach (var e in entries)
        {
            if ((e.Perm & ~7) != 0) return false;
            int rank = Rank(e.Tag);
            if (rank < 0 || rank < state) return false;
            switch (e.Tag)
            {
                case AclTag.UserObj: if (++userObj > 1) return false; break;
                case AclTag.GroupObj: if (++groupObj > 1) return false; break;
                case AclTag.Other: if (++other > 1) return false; break;
                case AclTag.Mask: if (hasMask) return false; hasMask = true; break;
                case AclTag.User or AclTag.Group:
                    if (e.Id == UndefinedId) return false;
                    needsMask = true;
                    break;
            }
            state = rank;
        }
        return userObj == 1 && groupObj == 1 && other == 1 && (!needsMask || hasMask);
    }

    private static int Rank(AclTag tag) => tag switch
    {
        AclTag.UserObj => 0,
        AclTag.User => 1,
        AclTag.GroupObj => 2,
        AclTag.Group => 3,
        AclTag.Mask => 4,
        AclTag.Other => 5,
        _ => -1,
    };

    /// <summary>
    /// posix_acl_equiv_mode: the permission bits an access ACL implies (USER_OBJ, then MASK or
    /// GROUP_OBJ without one, then OTHER); <paramref name="equivalent"/> when it says no more than
    /// those bits (no MASK, no named entry), so that it need not be stored. The engine sets the
    /// mode from it, fsck checks the stored mode against it.
    /// </summary>
    public static uint ImpliedMode(ReadOnlySpan<AclEntry> entries, out bool equivalent)
    {
        uint user = 0, group = 0, other = 0;
        int mask = -1;
        equivalent = true;
        foreach (var e in entries)
        {
            switch (e.Tag)
            {
                case AclTag.UserObj: user = e.Perm & 7u; break;
                case AclTag.GroupObj: group = e.Perm & 7u; break;
                case AclTag.Other: other = e.Perm & 7u; break;
                case AclTag.Mask: mask = e.Perm & 7; equivalent = false; break;
                default: equivalent = false; break;
            }
        }
        return user << 6 | (mask >= 0 ? (uint)mask : group) << 3 | other;
    }

    public static int EncodedLength(int count) => HeaderSize + count * EntrySize;

    public static byte[] Encode(ReadOnlySpan<AclEntry> entries)
    {
        var buf = new byte[EncodedLength(entries.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(buf, Version);
        for (int i = 0; i < entries.Length; i++)
        {
            var dst = buf.AsSpan(HeaderSize + i * EntrySize, EntrySize);
            BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(dst[2..], entries[i].Perm);
            BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], entries[i].IsNamed ? entries[i].Id : UndefinedId);
        }
        return buf;
    }
}

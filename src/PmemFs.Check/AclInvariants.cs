using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 5, on a verified xattr blob: its POSIX ACLs (docs/acl.md). Each system.posix_acl_*
/// value decodes as the kernel would take it (<see cref="DiskPosixAcl"/>: version 2, entries
/// valid, at least one); a default ACL only on a directory, no ACL on a symlink; a stored access
/// ACL says more than the mode, and its USER_OBJ, MASK (GROUP_OBJ without one) and OTHER are the
/// mode's permission bits, as the engine keeps them. A damaged ACL is a finding, never a crash;
/// repair leaves it to the administrator (setfacl, or removing the xattr).
/// </summary>
internal static class AclInvariants
{
    public static void Check(FsckContext ctx, ulong ino, in InodeRecord rec, List<KeyValuePair<byte[], byte[]>> xattrs)
    {
        string where = $"inode {ino}";
        foreach (var (name, value) in xattrs)
        {
            bool isAccess = name.AsSpan().SequenceEqual(DiskPosixAcl.AccessName);
            if (!isAccess && !name.AsSpan().SequenceEqual(DiskPosixAcl.DefaultName)) continue;
            string which = isAccess ? "access ACL" : "default ACL";
            var verdict = DiskPosixAcl.Decode(value, out var entries);
            if (verdict != AclVerdict.Ok)
            {
                ctx.Problem(where, $"{which} is not a valid POSIX ACL ({Describe(verdict)})", kind: "acl");
                continue;
            }
            if (rec.FileType == FileTypes.Symlink) ctx.Problem(where, $"a symlink has an {which}", kind: "acl");
            else if (!isAccess && rec.FileType != FileTypes.Directory) ctx.Problem(where, "a default ACL on a non-directory", kind: "acl");
            if (isAccess) CheckAgainstMode(ctx, where, rec.Mode, entries);
        }
    }

    private static void CheckAgainstMode(FsckContext ctx, string where, uint mode, AclEntry[] entries)
    {
        uint implied = DiskPosixAcl.ImpliedMode(entries, out bool equivalent);
        if (equivalent)
            ctx.Problem(where, "stores an access ACL equal to its mode (the engine stores none)", kind: "acl");
        if (implied != (mode & 0x1FF))
            ctx.Problem(where, $"access ACL implies mode {Convert.ToString(implied, 8)}, the inode says {Convert.ToString(mode & 0x1FF, 8)}", kind: "acl");
    }

    private static string Describe(AclVerdict v) => v switch
    {
        AclVerdict.Empty => "no entries",
        AclVerdict.BadVersion => "not version 2",
        AclVerdict.BadSize => "not a whole number of entries",
        _ => "entries out of order, missing, repeated or out of range",
    };
}

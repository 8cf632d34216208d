using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>
/// The xattr names PmemFs stores: user., trusted. and security., and of system.* only the two
/// POSIX ACLs, system.posix_acl_access and system.posix_acl_default, whose values are checked
/// and kept in step with the mode by <see cref="Acl.AclRules"/> (docs/acl.md). Any other system.*
/// name or a made-up prefix is EOPNOTSUPP, as on a kernel file system. Who may read trusted.* is
/// the kernel's check (CAP_SYS_ADMIN).
/// </summary>
public static class XattrNamespaces
{
    public static bool IsSupported(ReadOnlySpan<byte> name) =>
        HasPrefix(name, "user."u8) || HasPrefix(name, "trusted."u8) || HasPrefix(name, "security."u8) || IsPosixAcl(name);

    public static bool IsUser(ReadOnlySpan<byte> name) => HasPrefix(name, "user."u8);

    public static bool IsTrusted(ReadOnlySpan<byte> name) => HasPrefix(name, "trusted."u8);

    /// <summary>system.posix_acl_access or system.posix_acl_default.</summary>
    public static bool IsPosixAcl(ReadOnlySpan<byte> name) => DiskPosixAcl.IsAclName(name);

    private static bool HasPrefix(ReadOnlySpan<byte> name, ReadOnlySpan<byte> prefix) => name.Length > prefix.Length && name.StartsWith(prefix);
}

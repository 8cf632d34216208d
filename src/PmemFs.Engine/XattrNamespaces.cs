namespace PmemFs.Engine;

/// <summary>
/// The xattr namespaces PmemFs stores: user., trusted. and security. Anything else (system.*,
/// where POSIX ACLs live, or a made-up prefix) is EOPNOTSUPP, as on a kernel file system
/// without ACL support, so that tools like cp -a fall back to chmod instead of storing an ACL
/// that is never applied. Who may read trusted.* is the kernel's check (CAP_SYS_ADMIN).
/// </summary>
public static class XattrNamespaces
{
    public static bool IsSupported(ReadOnlySpan<byte> name) =>
        HasPrefix(name, "user."u8) || HasPrefix(name, "trusted."u8) || HasPrefix(name, "security."u8);

    public static bool IsUser(ReadOnlySpan<byte> name) => HasPrefix(name, "user."u8);

    public static bool IsTrusted(ReadOnlySpan<byte> name) => HasPrefix(name, "trusted."u8);

    private static bool HasPrefix(ReadOnlySpan<byte> name, ReadOnlySpan<byte> prefix) => name.Length > prefix.Length && name.StartsWith(prefix);
}

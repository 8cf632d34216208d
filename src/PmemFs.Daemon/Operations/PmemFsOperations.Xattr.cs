using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>Extended attributes: size probes (size 0) and ERANGE as the syscalls define them.</summary>
public sealed unsafe partial class PmemFsOperations
{
    public override void SetXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        if ((flags & ~(int)(XattrSetFlags.Create | XattrSetFlags.Replace)) != 0) { Reply(req, Errno.EINVAL); return; }
        Reply(req, _fs.SetXattr(ino, name, value, (XattrSetFlags)flags, AclCaller(req, name)));
    }

    /// <summary>
    /// Who sets or removes an xattr, as far as the engine asks: for the POSIX ACL names the caller
    /// with its CapEff (CAP_FOWNER, CAP_FSETID: the kernel sends no FUSE_SETXATTR_ACL_KILL_SGID
    /// without SETXATTR_EXT, so the engine applies posix_acl_update_mode's setgid rule itself).
    /// </summary>
    private Credentials? AclCaller(FuseRequest req, ReadOnlySpan<byte> name) =>
        XattrNamespaces.IsPosixAcl(name) ? Caller(req) with { Caps = (Capabilities)CallerCapabilities.Effective(req.Context.Pid) } : null;

    public override void GetXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name, long size)
    {
        var errno = _fs.GetXattr(ino, name, out var value);
        if (errno.Failed) Reply(req, errno);
        else if (size == 0) req.ReplyXattrSize(value.Length);
        else if (size < value.Length) Reply(req, Errno.ERANGE);
        else req.ReplyBuffer(value);
    }

    public override void ListXattr(FuseRequest req, ulong ino, long size)
    {
        var errno = _fs.ListXattr(ino, out var names);
        if (errno.Failed) { Reply(req, errno); return; }
        // The kernel hides trusted.* from unprivileged readers of a local file system; it does
        // not filter what a FUSE daemon lists, so the daemon does.
        if (names.Any(n => XattrNamespaces.IsTrusted(n)) && !CallerCapabilities.Has(req.Context.Pid, CallerCapabilities.SysAdmin))
            names = names.Where(n => !XattrNamespaces.IsTrusted(n)).ToList();
        int total = 0;
        foreach (var n in names) total += n.Length + 1;
        if (size == 0) { req.ReplyXattrSize(total); return; }
        if (size < total) { Reply(req, Errno.ERANGE); return; }
        var list = new byte[total];
        int at = 0;
        foreach (var n in names)
        {
            n.CopyTo(list, at);
            at += n.Length + 1;
        }
        req.ReplyBuffer(list);
    }

    public override void RemoveXattr(FuseRequest req, ulong ino, ReadOnlySpan<byte> name) => Reply(req, _fs.RemoveXattr(ino, name, AclCaller(req, name)));
}

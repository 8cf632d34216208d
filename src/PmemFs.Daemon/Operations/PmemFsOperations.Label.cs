using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// FS_IOC_GETFSLABEL / FS_IOC_SETFSLABEL (`xfs_io -c label`, `xfs_io -c "label -s NAME"`): the
/// label `pmemfs mkfs --label` sets and `pmemfs info` shows, read from and written to both
/// superblock copies. They reach the daemon as IOCTL on any node of the mount, with the kernel
/// checking nothing: the daemon checks CAP_SYS_ADMIN for a change, as Linux's file systems do.
/// </summary>
public sealed partial class PmemFsOperations
{
    /// <summary>_IOR(0x94, 49, char[FSLABEL_MAX]) and _IOW(0x94, 50, char[FSLABEL_MAX]).</summary>
    private const uint FsIocGetFsLabel = 0x81009431, FsIocSetFsLabel = 0x41009432;

    /// <summary>FSLABEL_MAX: the ioctl's buffer, including the terminating NUL.</summary>
    internal const int FsLabelMax = 256;

    /// <summary>Who may set the label; replaceable in tests.</summary>
    public Func<int, bool> CallerMaySetLabel { get; init; } = pid => CallerCapabilities.Has(pid, CallerCapabilities.SysAdmin);

    private void ReplyLabel(FuseRequest req)
    {
        Span<byte> buf = stackalloc byte[FsLabelMax];
        buf.Clear();
        _fs.GetLabel().CopyTo(buf);
        req.ReplyIoctl(0, buf);
    }

    /// <summary>As XFS: EPERM without CAP_SYS_ADMIN, EINVAL when no NUL ends it within FSLABEL_MAX or it is longer than the superblock holds, EROFS on a read-only mount.</summary>
    private void SetLabel(FuseRequest req, ReadOnlySpan<byte> input)
    {
        var c = req.Context;
        if (!CallerMaySetLabel(c.Pid)) { Reply(req, Errno.EPERM); return; }
        var buf = input[..FsLabelMax];
        int nul = buf.IndexOf((byte)0);
        if (nul < 0 || nul > DiskSuperblock.MaxLabelBytes) { Reply(req, Errno.EINVAL); return; }
        if (MountIsReadOnly?.Invoke() == true) { Reply(req, Errno.EROFS); return; }
        var errno = _fs.SetLabel(buf[..nul]);
        if (errno.Failed) { Reply(req, errno); return; }
        _log.Info($"label set to \"{_fs.Superblock.Label}\" by uid {c.Uid} pid {c.Pid}");
        req.ReplyIoctl(0, []);
    }
}

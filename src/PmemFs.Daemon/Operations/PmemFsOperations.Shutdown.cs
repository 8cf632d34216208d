using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// XFS_IOC_GOINGDOWN (`xfs_io -x -c shutdown MOUNT`, the number ext4 and f2fs answer too, and
/// what xfstests' _scratch_shutdown sends): the administrator's forced shutdown (docs/health.md).
/// The kernel forwards it as _IOR, 4 bytes out and none in, so its flags (flush the log or not)
/// never reach a FUSE daemon; none is needed: every commit is durable when it returns, and
/// after the shutdown nothing more is written, so the next mount replays the journal.
/// CAP_SYS_ADMIN, as XFS and ext4 require.
/// </summary>
public sealed unsafe partial class PmemFsOperations
{
    private const uint XfsIocGoingDown = 0x8004587D; // _IOR('X', 125, __u32)

    private void GoingDown(FuseRequest req)
    {
        if (!CallerIsAdmin(req.Context.Pid))
        {
            Reply(req, Errno.EPERM);
            return;
        }
        _fs.ShutDown($"shut down by the administrator (XFS_IOC_GOINGDOWN from pid {req.Context.Pid})");
        req.ReplyIoctl(0, stackalloc byte[4]);
    }
}

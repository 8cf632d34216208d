using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// The administrator's forced shutdown and the health query (docs/health.md):
/// <list type="bullet">
/// <item>XFS_IOC_GOINGDOWN (`xfs_io -x -c shutdown MOUNT`, the number ext4 and f2fs answer too,
/// and what xfstests' _scratch_shutdown sends). The kernel forwards it as _IOR, 4 bytes out and
/// none in, so its flags never reach a FUSE daemon: it is taken as LOGFLUSH (transactions in
/// flight finish, so every call that was told success is durable).</item>
/// <item>PMEMFS_IOC_HEALTH: GET (anyone: state, since, reason, for `pmemfs info`) and SHUTDOWN
/// with XFS's flags (`pmemfs shutdown [--no-flush]`).</item>
/// </list>
/// Shutting down needs CAP_SYS_ADMIN, as XFS and ext4 require. It waits for stores under way,
/// so it runs off the FUSE loop, like the poison calls.
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
        OffLoop(req, "shutdown", () =>
        {
            // Said once, by the health event the daemon logs.
            _fs.ShutDown($"shut down by the administrator (XFS_IOC_GOINGDOWN from pid {req.Context.Pid})", finishInFlight: true);
            req.ReplyIoctl(0, stackalloc byte[4]);
        });
    }

    private bool TryHealthIoctl(FuseRequest req, ReadOnlySpan<byte> input, long outSize)
    {
        if (input.Length < PmemFsHealth.Size || outSize < PmemFsHealth.Size) return false;
        var args = MemoryMarshal.Read<PmemFsHealth>(input);
        if (args.Version != PmemFsHealthAbi.Version || args.State != 0 || args.SinceNs != 0
            || args.Reserved1 != 0 || args.Reserved2 != 0 || args.Reserved3 != 0 || args.Reserved4 != 0 || args.Reserved5 != 0
            || args.Op is not (PmemFsHealthAbi.OpGet or PmemFsHealthAbi.OpShutdown)
            || (args.Op == PmemFsHealthAbi.OpGet ? args.Flags != 0 : args.Flags > PmemFsHealthAbi.ShutdownNoLogFlush))
        {
            Reply(req, Errno.EINVAL);
            return true;
        }
        if (args.Op == PmemFsHealthAbi.OpGet)
        {
            ReplyHealth(req);
            return true;
        }
        if (!CallerIsAdmin(req.Context.Pid))
        {
            Reply(req, Errno.EPERM);
            return true;
        }
        bool finish = args.Flags != PmemFsHealthAbi.ShutdownNoLogFlush;
        OffLoop(req, "shutdown", () =>
        {
            _fs.ShutDown($"shut down by the administrator (PMEMFS_IOC_HEALTH{(finish ? "" : " NOLOGFLUSH")} from pid {req.Context.Pid})", finishInFlight: finish);
            ReplyHealth(req);
        });
        return true;
    }

    private void ReplyHealth(FuseRequest req)
    {
        var h = _fs.Health;
        var reply = new PmemFsHealth
        {
            Version = PmemFsHealthAbi.Version,
            State = (uint)h.State,
            SinceNs = h.Since is { } since ? (ulong)((since.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100) : 0,
        };
        if (h.Reason is { } why)
        {
            // Cut at a character boundary so that the NUL-terminated text stays valid UTF-8.
            var reason = reply.Reason;
            var encoder = Encoding.UTF8.GetEncoder();
            encoder.Convert(why, reason[..^1], flush: true, out _, out int used, out _);
            reason[used..].Clear();
        }
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsHealth>(in reply)));
    }

    /// <summary>Runs <paramref name="work"/> off the FUSE loop (counted as parked, so unmount waits for it); EIO if it throws.</summary>
    private void OffLoop(FuseRequest req, string what, Action work)
    {
        Interlocked.Increment(ref _parked);
        _ = Task.Run(() =>
        {
            try { work(); }
            catch (Exception e)
            {
                _log.Error($"{what}: unexpected {e.GetType().Name}: {e.Message} (answered EIO)\n{e.StackTrace}");
                Reply(req, Errno.EIO);
            }
            finally { Interlocked.Decrement(ref _parked); }
        });
    }
}

using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Engine.Health;
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
        var errno = ValidateHealth(args, () => CallerIsAdmin(req.Context.Pid));
        if (errno.Failed)
        {
            Reply(req, errno);
            return true;
        }
        if (args.Op == PmemFsHealthAbi.OpGet)
        {
            ReplyHealth(req);
            return true;
        }
        bool finish = args.Flags != PmemFsHealthAbi.ShutdownNoLogFlush;
        OffLoop(req, "shutdown", () =>
        {
            // A second shutdown changes nothing (as XFS): the first reason and time stay.
            _fs.ShutDown($"shut down by the administrator (PMEMFS_IOC_HEALTH{(finish ? "" : " NOLOGFLUSH")} from pid {req.Context.Pid})", finishInFlight: finish);
            ReplyHealth(req);
        });
        return true;
    }

    /// <summary>
    /// PMEMFS_IOC_HEALTH's checks, in XFS's order: what the call is (version, op: EINVAL for
    /// anyone); for SHUTDOWN the capability before anything else is read (XFS_IOC_GOINGDOWN checks
    /// CAP_SYS_ADMIN before its flags: EPERM); then the flags and every field that is not input
    /// (state, since_ns, reserved, reason: 0 on input; EINVAL). GET needs no capability: the same
    /// state reaches anyone through PMEMFS_IOC_GET_FLAGS, as XFS's health reaches anyone through
    /// XFS_IOC_FSGEOMETRY. <paramref name="callerIsAdmin"/> is asked only for SHUTDOWN.
    /// </summary>
    public static Errno ValidateHealth(PmemFsHealth a, Func<bool> callerIsAdmin)
    {
        if (a.Version != PmemFsHealthAbi.Version || a.Op is not (PmemFsHealthAbi.OpGet or PmemFsHealthAbi.OpShutdown)) return Errno.EINVAL;
        if (a.Op == PmemFsHealthAbi.OpShutdown && !callerIsAdmin()) return Errno.EPERM;
        bool flagsOk = a.Op == PmemFsHealthAbi.OpGet
            ? a.Flags == 0
            : a.Flags is PmemFsHealthAbi.ShutdownDefault or PmemFsHealthAbi.ShutdownLogFlush or PmemFsHealthAbi.ShutdownNoLogFlush;
        if (!flagsOk || a.State != 0 || a.SinceNs != 0
            || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0 || a.Reserved4 != 0 || a.Reserved5 != 0
            || a.Reason.ContainsAnyExcept((byte)0))
            return Errno.EINVAL;
        return Errno.Ok;
    }

    private void ReplyHealth(FuseRequest req)
    {
        var h = _fs.Health;
        var reply = HealthReply(h.State, h.Since, h.Reason);
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsHealth>(in reply)));
    }

    /// <summary>The answer: version, state, since (ns since the epoch), the reason cut to fit at a character boundary (NUL-terminated UTF-8); op and flags 0.</summary>
    public static PmemFsHealth HealthReply(HealthState state, DateTimeOffset? since, string? why)
    {
        var reply = new PmemFsHealth
        {
            Version = PmemFsHealthAbi.Version,
            State = (uint)state,
            SinceNs = since is { } t ? (ulong)((t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100) : 0,
        };
        if (why is not null)
        {
            var reason = reply.Reason;
            var encoder = Encoding.UTF8.GetEncoder();
            encoder.Convert(why, reason[..^1], flush: true, out _, out int used, out _);
            reason[used..].Clear();
        }
        return reply;
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

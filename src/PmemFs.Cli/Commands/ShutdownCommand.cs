using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs shutdown MOUNT [--no-flush]</c>: the administrator's forced shutdown (docs/health.md),
/// as `xfs_io -x -c shutdown` is for XFS, but with XFS's flags, which XFS_IOC_GOINGDOWN cannot
/// carry through FUSE. Through PMEMFS_IOC_HEALTH, which also answers `pmemfs info` (state, since,
/// reason).
/// </summary>
public static unsafe class ShutdownCommand
{
    public const string Name = "shutdown";

    /// <summary>What PMEMFS_IOC_HEALTH answered.</summary>
    public sealed record MountHealth(uint State, DateTimeOffset? Since, string? Reason)
    {
        public string StateName => State switch
        {
            PmemFsPoisonAbi.HealthOk => "ok",
            PmemFsPoisonAbi.HealthWritesRefused => "writes-refused",
            PmemFsPoisonAbi.HealthShutDown => "shut-down",
            _ => $"unknown-{State}",
        };
    }

    public static Command Build(CliConsole console)
    {
        var mount = new Argument<string>("MOUNT") { Description = "A PmemFs mount point (or any path on the mount)." };
        var noFlush = new Option<bool>("--no-flush")
        {
            Description = "Stop at once: transactions in flight fail with EIO (XFS's NOLOGFLUSH). By default they finish first and their callers are told success.",
        };
        var command = new Command(Name,
            "Force a shutdown (XFS's): every change gets EIO and nothing is written until the mount is unmounted and mounted again (the next mount replays the journal); reads go on. Needs root.")
        { mount, noFlush };
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(mount)!;
            bool stopAtOnce = parsed.GetValue(noFlush);
            // Asked first: a mount that is down already is said so (and left as it is: a second
            // shutdown changes nothing), and a path that is not PmemFs is told before root is asked for.
            int errno = Call(path, PmemFsHealthAbi.OpGet, 0, out var before);
            if (errno != 0) throw Fail(Refusal(path, errno));
            if (before!.State == PmemFsPoisonAbi.HealthShutDown)
            {
                foreach (string line in Report(path, before, stopAtOnce, already: true)) console.Out.WriteLine(line);
                return ExitCodes.Ok;
            }
            uint flags = stopAtOnce ? PmemFsHealthAbi.ShutdownNoLogFlush : PmemFsHealthAbi.ShutdownLogFlush;
            errno = Call(path, PmemFsHealthAbi.OpShutdown, flags, out var health);
            if (errno != 0) throw Fail(Refusal(path, errno));
            foreach (string line in Report(path, health!, stopAtOnce, already: false)) console.Out.WriteLine(line);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>What to say when PMEMFS_IOC_HEALTH on <paramref name="path"/> failed with <paramref name="errno"/>.</summary>
    public static string Refusal(string path, int errno) => errno switch
    {
        LibC.ENOTTY => $"{path}: not on a PmemFs mount (or its daemon is older than pmemfs shutdown)",
        LibC.EPERM => $"{path}: a forced shutdown stops every change: it needs CAP_SYS_ADMIN (run it as root)",
        LibC.EINVAL => $"{path}: the daemon refused the request as malformed (EINVAL): is it older than this pmemfs command?",
        _ => $"{path}: {Flags.FlagIoctl.Message(errno)}",
    };

    /// <summary>The lines printed after a shutdown (or when the mount was down already).</summary>
    public static IEnumerable<string> Report(string path, MountHealth health, bool noFlush, bool already)
    {
        string since = health.Since is { } t ? $" since {t.ToLocalTime():yyyy-MM-dd HH:mm:ss zzz}" : "";
        if (health.State != PmemFsPoisonAbi.HealthShutDown)
        {
            // Not what the daemon promises; said plainly rather than claimed.
            yield return $"{path}: the daemon answered, but the file system is {health.StateName}{since}{(health.Reason is { } r ? ": " + r : "")}";
            yield break;
        }
        yield return already
            ? $"{path}: already shut down{since}: {health.Reason ?? "(no reason given)"}"
            : $"{path}: shut down{since}: {health.Reason ?? "(no reason given)"}";
        if (!already)
            yield return noFlush
                ? "transactions in flight were stopped: their callers got EIO (one already durable is replayed by the next mount)"
                : "transactions in flight finished first: every change its caller was told succeeded is kept";
        yield return "changes get EIO, reads go on, nothing more is written; unmount and mount again (the mount replays the journal)";
    }

    /// <summary>PMEMFS_IOC_HEALTH on <paramref name="path"/>; 0 and the answer, or the errno.</summary>
    public static int Call(string path, uint op, uint flags, out MountHealth? health)
    {
        health = null;
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        try
        {
            var args = new PmemFsHealth { Version = PmemFsHealthAbi.Version, Op = op, Flags = flags };
            if (LibC.ioctl(fd, PmemFsHealthAbi.Health, &args) < 0) return Marshal.GetLastPInvokeError();
            var reason = args.Reason;
            int end = reason.IndexOf((byte)0);
            string text = Encoding.UTF8.GetString(end < 0 ? reason : reason[..end]);
            health = new MountHealth(args.State,
                args.SinceNs == 0 ? null : DateTimeOffset.UnixEpoch.AddTicks((long)(args.SinceNs / 100)),
                text.Length == 0 ? null : text);
            return 0;
        }
        finally { LibC.close(fd); }
    }
}

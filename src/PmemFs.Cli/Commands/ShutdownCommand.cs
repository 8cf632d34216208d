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
            uint flags = parsed.GetValue(noFlush) ? PmemFsHealthAbi.ShutdownNoLogFlush : PmemFsHealthAbi.ShutdownLogFlush;
            int errno = Call(path, PmemFsHealthAbi.OpShutdown, flags, out var health);
            if (errno != 0)
                throw Fail(errno switch
                {
                    LibC.ENOTTY => $"{path}: not a PmemFs mount (or its daemon is older than pmemfs shutdown)",
                    1 => $"{path}: a forced shutdown stops every change: it needs CAP_SYS_ADMIN (run it as root)",
                    _ => $"{path}: {Flags.FlagIoctl.Message(errno)}",
                });
            console.Out.WriteLine($"{path}: shut down: {health!.Reason}");
            console.Out.WriteLine("changes get EIO and nothing more is written; unmount and mount again (the mount replays the journal)");
            return ExitCodes.Ok;
        }));
        return command;
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

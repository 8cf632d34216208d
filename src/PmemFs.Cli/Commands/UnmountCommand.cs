using System.CommandLine;
using PmemFs.Cli.Output;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs unmount DIR</c>: unmounts and waits until the daemon has persisted everything and
/// released the image, so that fsck or a new mount can follow at once. Clears dead mounts too.
/// </summary>
public static class UnmountCommand
{
    public const string Name = "unmount";

    public static Command Build(CliConsole console)
    {
        var dir = new Argument<string>("DIR") { Description = "The mountpoint." };
        var lazy = new Option<bool>("--lazy", "-l") { Description = "Detach now even if busy; the daemon ends when the last user lets go." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the daemon to finish (default 60).", DefaultValueFactory = _ => 60, HelpName = "SECONDS" };
        var command = new Command(Name, "Unmount a PmemFs mount and wait until its daemon has released the image.") { dir, lazy, timeout };
        command.Aliases.Add("umount");
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string? servedOn;
            try { servedOn = Daemon.Unmount.Run(parsed.GetValue(dir)!, parsed.GetValue(lazy), TimeSpan.FromSeconds(parsed.GetValue(timeout))); }
            catch (Daemon.MountException e) { throw CommandGuard.Fail(e.Message); }
            if (servedOn is not null)
                console.Error.WriteLine($"pmemfs: {Name}: the file system stays mounted on {servedOn} (a shared mount point), and its daemon serves on there");
            return ExitCodes.Ok;
        }));
        return command;
    }
}

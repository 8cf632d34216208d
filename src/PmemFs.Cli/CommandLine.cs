using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using PmemFs.Cli.Commands;
using PmemFs.Cli.Output;

namespace PmemFs.Cli;

/// <summary>The command tree, and the one place that turns parse errors into exit codes.</summary>
public static class CommandLine
{
    public const string Name = "pmemfs";

    public static int Run(string[] args, CliConsole console)
    {
        // chattr's "-i" clears a flag: its arguments bypass System.CommandLine, except for help
        // (asked alone, so that "-i" next to it is not an unknown option).
        if (args.Length > 0 && args[0] == ChattrCommand.Name)
        {
            if (!ChattrCommand.WantsHelp(args[1..])) return ChattrCommand.Run(console, args[1..]);
            args = [ChattrCommand.Name, "--help"];
        }

        var root = Build(console);
        var parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
            return UsageError(console, parsed);
        try
        {
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                // Every command catches its own failures (CommandGuard); this catch is for the rest.
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (Exception e)
        {
            string name = parsed.CommandResult.Command.Name;
            console.Error.WriteLine($"{Name}: {(name == Name ? "" : name + ": ")}internal error: {e.GetType().Name}: {CliConsole.OneLine(e.Message)} (this is a bug in pmemfs; please report it)");
            return name == FsckCommand.Name ? ExitCodes.FsckOperational : ExitCodes.Failure;
        }
    }

    /// <summary>
    /// Built for each run (cheap: a few objects) so that the actions capture this run's console
    /// and nothing is shared between runs in one process.
    /// </summary>
    public static Command Build(CliConsole console)
    {
        // A plain Command rather than RootCommand: RootCommand names itself after the process
        // (testhost, dotnet), and its directives are not needed.
        var root = new Command(Name, "PmemFs: a userspace file system for persistent memory.")
        {
            new HelpOption(),
            new VersionOption(),
            MkfsCommand.Build(console),
            FsckCommand.Build(console),
            InfoCommand.Build(console),
            MountCommand.Build(console),
            UnmountCommand.Build(console),
            ChattrCommand.Build(console),
            LsattrCommand.Build(console),
            CrashTestCommand.Build(console),
            LeaseCommand.Build(console),
            BmapCommand.Build(console),
            RmapCommand.Build(console),
            PoisonCommand.Build(console),
            ReflinkCommand.Build(console),
            ShutdownCommand.Build(console),
        };
        return root;
    }

    /// <summary>
    /// The IMAGE argument of every command. A value that starts with '-' is an option this
    /// command does not have (System.CommandLine would otherwise take it as the image name);
    /// a file whose name starts with '-' is named ./-name.
    /// </summary>
    public static Argument<string> ImageArgument(string description, string name = "IMAGE")
    {
        var image = new Argument<string>(name) { Description = description };
        image.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-')
                    result.AddError($"unknown option '{token.Value}'");
        });
        return image;
    }

    /// <summary>fsck follows fsck(8) (16); every other command, and pmemfs itself, exit 2.</summary>
    public static int UsageExitCode(string command) => command == FsckCommand.Name ? ExitCodes.FsckUsage : ExitCodes.Usage;

    private static int UsageError(CliConsole console, ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        string name = command.Name;
        // "--bogus x" or "frobnicate x" give two errors; the one naming the unknown word explains the other.
        var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("unknown option", StringComparison.Ordinal))
            ?? parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal))
            ?? (parsed.Errors.Count > 0 ? parsed.Errors[0] : null);
        return ReportUsageError(console, name, error?.Message ?? "invalid command line");
    }

    /// <summary>The two lines of a usage error (also for chattr, which parses its own arguments) and its exit code.</summary>
    public static int ReportUsageError(CliConsole console, string command, string message)
    {
        if (command == Name) console.Error.WriteLine($"{Name}: {CliConsole.OneLine(message)}");
        else console.Fail(command, message);
        string help = command == Name ? $"{Name} --help" : $"{Name} {command} --help";
        console.Error.WriteLine($"Try '{help}' for more information.");
        return UsageExitCode(command);
    }
}

using System.CommandLine;
using System.CommandLine.Parsing;
using PmemFs.Cli.Flags;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs chattr [-R] [-V] [-f] [+-=]FLAGS... FILE...</c>: changes per-inode flags through
/// PMEMFS_IOC_SET_FLAGS, one call per file, worded like chattr(1). Its arguments are parsed by
/// <see cref="ChattrArguments"/>, not System.CommandLine ("-i" clears a flag); the command in
/// the tree is there for <c>--help</c> and the command list.
/// </summary>
public static class ChattrCommand
{
    public const string Name = "chattr";
    private const string Prefix = "pmemfs chattr: ";

    public static Command Build(CliConsole console)
    {
        var command = new Command(Name, "Change per-inode flags of files on a PmemFs mount (like chattr(1)): pmemfs chattr [-R] [-V] [-f] [+-=]FLAGS... FILE...")
        {
            new Argument<string[]>("MODE") { Description = "+FLAGS, -FLAGS or =FLAGS: long names (+dax,dax_immutable) or chattr letters (+ia): i immutable, a append, A noatime, S sync, d nodump, x dax." },
            new Argument<string[]>("FILE") { Description = "Files and directories on a PmemFs mount." },
            new Option<bool>("-R") { Description = "Recurse into directories (symlinks and special files are skipped)." },
            new Option<bool>("-V") { Description = "Print the flags of each file after the change." },
            new Option<bool>("-f") { Description = "Suppress most error messages (the exit code still says)." },
        };
        // Reached only through CommandLine.Run's interception; kept for a hand-built tree.
        command.SetAction(parsed => Run(console, parsed.Tokens.SkipWhile(t => t.Type == TokenType.Command).Select(t => t.Value).ToList()));
        return command;
    }

    /// <summary>
    /// Whether these arguments (after "chattr") ask for help, which System.CommandLine prints:
    /// only among the options and modes, since from the first file on (or after "--") every
    /// argument is a file, as <see cref="ChattrArguments"/> reads them.
    /// </summary>
    public static bool WantsHelp(IReadOnlyList<string> args)
    {
        foreach (string a in args)
        {
            if (a is "--help" or "-h" or "-?") return true;
            if (a == "--" || a.Length == 0 || a[0] is not ('+' or '-' or '=')) return false;
        }
        return false;
    }

    public static int Run(CliConsole console, IReadOnlyList<string> args)
    {
        ChattrArguments parsed;
        try { parsed = ChattrArguments.Parse(args); }
        catch (FlagUsageException e) { return CommandLine.ReportUsageError(console, Name, e.Message); }

        bool ok = true;
        foreach (string file in parsed.Files) ok &= Change(console, parsed, file, named: true);
        return ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static bool Change(CliConsole console, ChattrArguments a, string path, bool named)
    {
        int errno = PathKind.Lstat(path, out var type);
        if (errno != 0) return Error(console, a, PathKind.StatError(path, errno));
        if (type is FileType.Symlink or FileType.Other)
        {
            // As chattr(1): -R never follows or changes symlinks and special files; naming one is an error.
            return !named || Error(console, a, $"{FlagIoctl.Message(LibC.EOPNOTSUPP)} while setting flags on {path}");
        }

        errno = FlagIoctl.Set(path, a.Change, out var after);
        bool ok = errno == 0;
        if (!ok) Error(console, a, SetError(path, errno));
        else if (a.Verbose) console.Out.WriteLine(CliConsole.OneLine($"Flags of {path} set as {FlagNames.Format(after.Flags)}"));

        if (type == FileType.Directory && a.Recursive)
        {
            if (PathKind.TryEntries(path, out string error) is not { } names) return Error(console, a, error);
            foreach (string name in names) ok &= Change(console, a, Path.Join(path, name), named: false);
        }
        return ok;
    }

    /// <summary>chattr(1)'s wording; ENOTTY, the usual answer off PmemFs, says so plainly.</summary>
    public static string SetError(string path, int errno) => errno == LibC.ENOTTY
        ? $"{path} is not on a PmemFs mount ({FlagIoctl.Message(errno)}) while setting flags"
        : $"{FlagIoctl.Message(errno)} while setting flags on {path}";

    private static bool Error(CliConsole console, ChattrArguments a, string message)
    {
        if (!a.Silent) console.Error.WriteLine(Prefix + CliConsole.OneLine(message));
        return false;
    }
}

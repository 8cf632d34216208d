using PmemFs.Cli.Output;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Cli.Commands;

/// <summary>
/// Turns what can go wrong while a command works into one line on stderr and an exit code:
/// never a stack trace.
/// </summary>
public static class CommandGuard
{
    public static int Run(CliConsole console, string command, int failureCode, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is CommandFailedException or MediaException or ImageFormatException or IOException or UnauthorizedAccessException)
        {
            console.Fail(command, e.Message);
            return failureCode;
        }
        catch (Exception e)
        {
            console.Fail(command, $"internal error: {e.GetType().Name}: {e.Message} (this is a bug in pmemfs; please report it)");
            return failureCode;
        }
    }

    public static CommandFailedException Fail(string message) => new(message);
}

/// <summary>A refusal a command decided on, with its message (e.g. "use --force to overwrite it").</summary>
public sealed class CommandFailedException : Exception
{
    public CommandFailedException() { }

    public CommandFailedException(string message) : base(message) { }

    public CommandFailedException(string message, Exception innerException) : base(message, innerException) { }
}

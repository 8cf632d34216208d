using PmemFs.Cli.Output;

namespace PmemFs.Cli;

public static class Program
{
    public static int Main(string[] args) =>
        Run(args, Console.Out, Console.Error, stderrIsTerminal: !Console.IsErrorRedirected);

    /// <summary>Runs one pmemfs command line and returns its exit code; tests call this in-process.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal = false) =>
        CommandLine.Run(args, new CliConsole(stdout, stderr, stderrIsTerminal));
}

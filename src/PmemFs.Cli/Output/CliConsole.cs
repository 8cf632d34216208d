namespace PmemFs.Cli.Output;

/// <summary>
/// Where a command writes: results to <see cref="Out"/>, errors and progress to <see cref="Error"/>.
/// Passed in rather than taken from <see cref="Console"/> so that tests run commands in-process
/// and capture both streams.
/// </summary>
public sealed class CliConsole(TextWriter output, TextWriter error, bool errorIsTerminal)
{
    public TextWriter Out { get; } = output;
    public TextWriter Error { get; } = error;

    /// <summary>Whether <see cref="Error"/> is a terminal (progress is drawn only there unless asked for).</summary>
    public bool ErrorIsTerminal { get; } = errorIsTerminal;

    /// <summary>The one line every failure prints: <c>pmemfs: COMMAND: MESSAGE</c>.</summary>
    public void Fail(string command, string message) => Error.WriteLine($"pmemfs: {command}: {OneLine(message)}");

    /// <summary>A warning that does not stop the command: <c>pmemfs: COMMAND: warning: MESSAGE</c>.</summary>
    public void Warn(string command, string message) => Error.WriteLine($"pmemfs: {command}: warning: {OneLine(message)}");

    /// <summary>Newlines and tabs in messages (file names can hold them) would break "one problem per line".</summary>
    public static string OneLine(string text) =>
        text.AsSpan().IndexOfAny('\n', '\r', '\t') < 0 ? text : text.Replace("\r\n", " ").Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');
}

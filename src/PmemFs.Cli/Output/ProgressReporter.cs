using System.Diagnostics;
using System.Globalization;

namespace PmemFs.Cli.Output;

/// <summary>
/// Progress of long work on stderr. On a terminal one line is redrawn in place (at most ten
/// times a second, and only once the work has lasted half a second, so quick runs print
/// nothing) and erased at the end. With --progress on a pipe or file, a plain line is
/// printed at each phase and every 10% of it, so logs stay readable.
/// </summary>
public sealed class ProgressReporter
{
    private static readonly long RedrawTicks = Stopwatch.Frequency / 10;
    private static readonly long DelayTicks = Stopwatch.Frequency / 2;

    private readonly TextWriter _error;
    private readonly string _prefix;
    private readonly bool _terminal;
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _lastDraw;
    private int _drawnWidth;
    private string? _phase;
    private int _lastTenth = -1;

    private ProgressReporter(TextWriter error, string prefix, bool terminal)
    {
        _error = error;
        _prefix = prefix;
        _terminal = terminal;
    }

    /// <summary>A reporter, or null when progress is neither asked for nor going to a terminal.</summary>
    public static ProgressReporter? Create(CliConsole console, string command, bool requested, bool quiet) =>
        quiet && !requested ? null
        : console.ErrorIsTerminal ? new ProgressReporter(console.Error, $"pmemfs {command}", terminal: true)
        : requested ? new ProgressReporter(console.Error, $"pmemfs {command}", terminal: false)
        : null;

    public void Report(string phase, long done, long total)
    {
        int percent = total <= 0 ? 100 : (int)Math.Clamp(done * 100 / total, 0, 100);
        if (_terminal)
        {
            long now = Stopwatch.GetTimestamp();
            bool newPhase = phase != _phase;
            _phase = phase;
            if (now - _start < DelayTicks || (!newPhase && now - _lastDraw < RedrawTicks && percent < 100)) return;
            _lastDraw = now;
            string line = $"{_prefix}: {phase} {percent.ToString(CultureInfo.InvariantCulture),3}%";
            _error.Write("\r" + line.PadRight(_drawnWidth));
            _drawnWidth = Math.Max(_drawnWidth, line.Length);
            _error.Flush();
            return;
        }

        int tenth = percent / 10;
        if (phase == _phase && tenth == _lastTenth) return;
        _phase = phase;
        _lastTenth = tenth;
        _error.WriteLine($"{_prefix}: {phase} {percent.ToString(CultureInfo.InvariantCulture)}%");
    }

    /// <summary>Erases the progress line (terminal) so what follows starts on a clean line.</summary>
    public void Finish()
    {
        if (!_terminal || _drawnWidth == 0) return;
        _error.Write("\r" + new string(' ', _drawnWidth) + "\r");
        _error.Flush();
        _drawnWidth = 0;
    }
}

namespace PmemFs.Daemon;

/// <summary>
/// The daemon's log: timestamped lines on stderr, which a background daemon has pointed at
/// its log file. Thread-safe; one line per event.
/// </summary>
public sealed class DaemonLog(TextWriter writer)
{
    private readonly Lock _lock = new();

    public void Info(string message) => Write("info", message);

    public void Warning(string message) => Write("warning", message);

    public void Error(string message) => Write("error", message);

    private void Write(string level, string message)
    {
        lock (_lock)
        {
            writer.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm:ss.fff}Z pmemfs[{Environment.ProcessId}] {level}: {message}");
            writer.Flush();
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;

namespace PmemFs.Mount.Tests;

/// <summary>
/// The C lease holder (helpers/pmemfs_lease.c, built here with gcc against pmemfs.h) run as a
/// real process: its output lines are collected as they come, with the time each arrived.
/// Dispose closes its stdin (it exits on EOF) and kills it if it does not.
/// </summary>
internal sealed class LeaseHolder : IDisposable
{
    private static readonly Lazy<string?> Program = new(Build);
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly List<string> _all = [];

    /// <summary>The built helper, or null (the test is skipped) when gcc is missing.</summary>
    public static string? Path => Program.Value;

    public static void SkipUnlessBuilt() => Skip.If(Path is null, "gcc is not installed: the C lease holder cannot be built");

    private LeaseHolder(IEnumerable<string> args, string? program = null)
    {
        var psi = new ProcessStartInfo(program ?? Path!) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _lines.CompleteAdding(); return; }
            lock (_all) _all.Add(e.Data);
            _lines.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_all) _all.Add("stderr: " + e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>Starts `pmemfs_lease hold ARGS` and waits for "ready"; throws with its output if it did not get there.</summary>
    public static LeaseHolder Hold(params string[] args)
    {
        var h = new LeaseHolder(["hold", .. args]);
        try
        {
            var line = h.WaitFor(l => l == "ready" || l.Contains(": E", StringComparison.Ordinal) || l.StartsWith("open:", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
            if (line != "ready") throw new InvalidOperationException($"the lease holder did not get its lease: {h.Output}");
            return h;
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The C# holder (tests/PmemFs.Direct.Holder: the client library as an application uses it)
    /// as a separate process; waits for "ready PID", throws with its output if it did not get there.
    /// </summary>
    public static LeaseHolder DirectHolder(params string[] args)
    {
        string program = System.IO.Path.Combine(AppContext.BaseDirectory, "PmemFs.Direct.Holder");
        var h = new LeaseHolder(args, program);
        try
        {
            var line = h.WaitFor(l => l.StartsWith("ready ", StringComparison.Ordinal) || l.StartsWith("error ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            if (line is null || !line.StartsWith("ready ", StringComparison.Ordinal)) throw new InvalidOperationException($"the direct holder did not get ready: {h.Output}");
            return h;
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    /// <summary>Writes a command line to its stdin.</summary>
    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Runs the helper to its end (try, list) and returns its output.</summary>
    public static string Run(params string[] args) => Proc.Run(Path!, args, TimeSpan.FromSeconds(30)).Out.Trim();

    /// <summary>The id printed after "lease " or "pin ".</summary>
    public ulong Id(string what) => ulong.Parse(Lines.First(l => l.StartsWith(what + " ", StringComparison.Ordinal))[(what.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public IReadOnlyList<string> Lines
    {
        get { lock (_all) return [.. _all]; }
    }

    public string Output => string.Join(" | ", Lines);

    /// <summary>The next line that matches (earlier ones are consumed); null after the timeout or when the process ended.</summary>
    public string? WaitFor(Func<string, bool> match, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (!_lines.TryTake(out var line, TimeSpan.FromMilliseconds(50)))
            {
                if (_lines.IsCompleted) return null;
                continue;
            }
            if (match(line)) return line;
        }
        return null;
    }

    /// <summary>kill -9, and wait until it is gone.</summary>
    public void Kill()
    {
        Native.kill(_process.Id, Native.SIGKILL);
        _process.WaitForExit(10_000);
    }

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(5000)) Kill();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    private static string? Build()
    {
        string? gcc = Proc.Which("gcc");
        if (gcc is null) return null;
        string helpers = System.IO.Path.Combine(AppContext.BaseDirectory, "helpers");
        string dir = Directory.CreateTempSubdirectory("pmemfs-lease-helper-").FullName;
        string exe = System.IO.Path.Combine(dir, "pmemfs_lease");
        Proc.Check(gcc, ["-Wall", "-Werror", "-O2", "-I", helpers, "-o", exe, System.IO.Path.Combine(helpers, "pmemfs_lease.c")]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        return exe;
    }
}

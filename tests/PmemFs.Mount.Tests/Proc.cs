using System.Diagnostics;
using System.Text;

namespace PmemFs.Mount.Tests;

/// <summary>What one command did.</summary>
internal sealed record ProcResult(string Command, int ExitCode, string Out, string Err)
{
    public bool Ok => ExitCode == 0;

    public override string ToString() => $"$ {Command}\nexit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs commands with a timeout on every wait: a hang fails the test instead of blocking it.</summary>
internal static class Proc
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public static ProcResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? workingDirectory = null,
        IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        string command = file + " " + string.Join(' ', psi.ArgumentList.Select(Quote));

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outDone = new TaskCompletionSource();
        var errDone = new TaskCompletionSource();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is null) outDone.TrySetResult(); else lock (stdout) stdout.Append(e.Data).Append('\n'); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) errDone.TrySetResult(); else lock (stderr) stderr.Append(e.Data).Append('\n'); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var limit = timeout ?? DefaultTimeout;
        if (!p.WaitForExit(limit))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(5000);
            string o, e;
            lock (stdout) o = stdout.ToString();
            lock (stderr) e = stderr.ToString();
            throw new TimeoutException($"timed out after {limit.TotalSeconds:0} s: {command}\n--- stdout\n{o}--- stderr\n{e}");
        }
        // A daemon that inherited the pipes would keep them open forever: give the output a
        // moment to end, then take what arrived.
        Task.WaitAll([outDone.Task, errDone.Task], TimeSpan.FromSeconds(5));
        string so, se;
        lock (stdout) so = stdout.ToString();
        lock (stderr) se = stderr.ToString();
        return new ProcResult(command, p.ExitCode, so, se);
    }

    public static ProcResult Run(string file, params string[] args) => Run(file, (IEnumerable<string>)args);

    /// <summary>Runs and fails (throws) unless the command exits 0.</summary>
    public static ProcResult Check(string file, params string[] args) => Check(file, args, null);

    public static ProcResult Check(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? workingDirectory = null,
        IDictionary<string, string>? environment = null)
    {
        var r = Run(file, args, timeout, workingDirectory, environment);
        if (!r.Ok) throw new InvalidOperationException("command failed:\n" + r);
        return r;
    }

    /// <summary>The full path of <paramref name="name"/> on PATH, or null.</summary>
    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}

using System.Diagnostics;

namespace PmemFs.Media.Tests;

/// <summary>A unique image path on /dev/shm (or the temp directory), always deleted.</summary>
internal sealed class TempImage : IDisposable
{
    public TempImage()
    {
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(dir, $"pmemfs-media-test-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
    }

    public string Path { get; }

    /// <summary>Writes <paramref name="length"/> bytes of a deterministic pattern as the file.</summary>
    public byte[] WritePattern(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        File.WriteAllBytes(Path, bytes);
        return bytes;
    }

    /// <summary>
    /// Makes the file impossible to open for writing, even for root: root ignores mode bits,
    /// so as root the immutable attribute is set (tmpfs supports it); otherwise mode 0444.
    /// </summary>
    public void MakeUnwritable()
    {
        if (Environment.IsPrivilegedProcess) RunChattr("+i");
        else File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        _unwritable = true;
    }

    public void Dispose()
    {
        if (_unwritable && Environment.IsPrivilegedProcess && File.Exists(Path)) RunChattr("-i");
        File.Delete(Path);
    }

    private bool _unwritable;

    private void RunChattr(string flag)
    {
        using var p = Process.Start(new ProcessStartInfo("chattr", [flag, Path]) { RedirectStandardError = true })
            ?? throw new InvalidOperationException("cannot start chattr");
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"chattr {flag} {Path} failed: {err}");
    }
}

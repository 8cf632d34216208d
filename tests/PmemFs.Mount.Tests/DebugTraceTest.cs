namespace PmemFs.Mount.Tests;

/// <summary>
/// -o debug traces every request and reply into the background daemon's log in libfuse's form,
/// on either transport (the kernel transport printed nothing before), and the daemon's own log
/// lines and the trace (written through its stderr) append to the log without overwriting each
/// other (the log was opened with a position of its own, which overwrote what stderr appended).
/// </summary>
public class DebugTraceTest
{
    [SkippableTheory]
    [InlineData("debug")]
    [InlineData("debug,fuse_transport=libfuse")]
    public void EveryRequestAndReplyIsInTheLogBesideTheDaemonsOwnLines(string options)
    {
        using var fs = new MountedFileSystem(options: options);
        File.WriteAllText(fs["file"], "x");
        Assert.False(File.Exists(fs["missing"]));
        fs.Unmount();

        var lines = File.ReadAllLines(fs.LogFile);
        int mounted = Array.FindLastIndex(lines, l => l.Contains($"mounted on {fs.Path}", StringComparison.Ordinal));
        Assert.True(mounted >= 0, "the daemon's 'mounted on' line is in the log:\n" + string.Join('\n', lines.TakeLast(40)));
        var trace = lines[mounted..];
        Assert.Contains(trace, l => l.StartsWith("unique: ", StringComparison.Ordinal) && l.Contains("opcode: LOOKUP (1), nodeid: 1", StringComparison.Ordinal));
        Assert.Contains(trace, l => l.Contains("opcode: WRITE (16)", StringComparison.Ordinal));
        Assert.Contains(trace, l => l.StartsWith("   unique: ", StringComparison.Ordinal) && l.Contains(", success, outsize: ", StringComparison.Ordinal));
        // Every line whole: a trace line starts where a line starts, a daemon line has its timestamp.
        Assert.All(trace.Where(l => l.Contains("opcode: ", StringComparison.Ordinal)), l => Assert.Matches(@"^unique: \d+, opcode: [A-Z_]+ \(\d+\), nodeid: \d+, insize: \d+, pid: \d+$", l));
        Assert.All(trace.Where(l => l.Contains(" pmemfs[", StringComparison.Ordinal)), l => Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+Z pmemfs\[\d+\] ", l));
        Assert.Contains(trace, l => l.Contains($"released (unmounted from {fs.Path})", StringComparison.Ordinal));
    }
}

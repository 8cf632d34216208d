using PmemFs.Abi;
using PmemFs.Cli.Commands;

namespace PmemFs.Cli.Tests;

/// <summary>
/// `pmemfs shutdown MOUNT [--no-flush]` in process: its command line, its refusals of paths that
/// are not on PmemFs, and what it prints (the shutdown itself runs through a real mount in
/// tests/fstests pmemfs/019).
/// </summary>
public sealed class ShutdownCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pmemfs-shutdown-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void HelpNamesTheArgumentTheOptionAndRoot()
    {
        var r = Cli.Run("shutdown", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("pmemfs shutdown <MOUNT> [options]", r.Out, StringComparison.Ordinal);
        Assert.Contains("--no-flush", r.Out, StringComparison.Ordinal);
        Assert.Contains("Needs root", r.Out, StringComparison.Ordinal);
        Assert.Contains("shutdown", Cli.Run("--help").Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData]
    [InlineData("/a", "/b")]
    [InlineData("--flush", "/a")]
    [InlineData("--no-flush=maybe", "/a")]
    public void ABadCommandLineIsAUsageErrorAndDoesNothing(params string[] args)
    {
        var r = Cli.Run(["shutdown", .. args]);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Equal("", r.Out);
        Assert.StartsWith("pmemfs: ", r.ErrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingPathIsRefused()
    {
        string path = Path.Combine(_dir, "nope");
        var r = Cli.Run("shutdown", path);
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Equal("", r.Out);
        Assert.Equal($"pmemfs: shutdown: {path}: No such file or directory", Assert.Single(r.ErrLines));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ADirectoryOrFileNotOnPmemFsIsRefusedBeforeRootIsAskedFor(bool noFlush)
    {
        string file = Path.Combine(_dir, "f");
        File.WriteAllText(file, "x");
        foreach (string path in new[] { _dir, file })
        {
            var r = noFlush ? Cli.Run("shutdown", "--no-flush", path) : Cli.Run("shutdown", path);
            Assert.Equal(ExitCodes.Failure, r.ExitCode);
            Assert.Equal("", r.Out);
            Assert.Equal($"pmemfs: shutdown: {path}: not on a PmemFs mount (or its daemon is older than pmemfs shutdown)", Assert.Single(r.ErrLines));
        }
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void EachRefusalSaysWhatToDo()
    {
        Assert.Equal("/m: a forced shutdown stops every change: it needs CAP_SYS_ADMIN (run it as root)", ShutdownCommand.Refusal("/m", 1));
        Assert.Equal("/m: not on a PmemFs mount (or its daemon is older than pmemfs shutdown)", ShutdownCommand.Refusal("/m", 25));
        Assert.StartsWith("/m: the daemon refused the request as malformed (EINVAL)", ShutdownCommand.Refusal("/m", 22), StringComparison.Ordinal);
        Assert.Equal("/m: Transport endpoint is not connected", ShutdownCommand.Refusal("/m", 107));
    }

    private static readonly DateTimeOffset Since = new(2026, 12, 4, 3, 51, 37, TimeSpan.Zero);

    private static string SinceText => Since.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void AShutdownSaysWhyAndThatTransactionsInFlightFinished()
    {
        var h = new ShutdownCommand.MountHealth(PmemFsPoisonAbi.HealthShutDown, Since, "shut down by the administrator (PMEMFS_IOC_HEALTH from pid 7)");
        Assert.Equal(
        [
            $"/m: shut down since {SinceText}: shut down by the administrator (PMEMFS_IOC_HEALTH from pid 7)",
            "transactions in flight finished first: every change its caller was told succeeded is kept",
            "changes get EIO, reads go on, nothing more is written; unmount and mount again (the mount replays the journal)",
        ], ShutdownCommand.Report("/m", h, noFlush: false, already: false));
    }

    [Fact]
    public void ANoFlushShutdownSaysTransactionsInFlightGotEio()
    {
        var h = new ShutdownCommand.MountHealth(PmemFsPoisonAbi.HealthShutDown, Since, "r");
        var lines = ShutdownCommand.Report("/m", h, noFlush: true, already: false).ToList();
        Assert.Equal(3, lines.Count);
        Assert.StartsWith("transactions in flight were stopped: their callers got EIO", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void AMountDownAlreadyKeepsItsFirstReason()
    {
        var h = new ShutdownCommand.MountHealth(PmemFsPoisonAbi.HealthShutDown, Since, "inode table changed under the mount");
        Assert.Equal(
        [
            $"/m: already shut down since {SinceText}: inode table changed under the mount",
            "changes get EIO, reads go on, nothing more is written; unmount and mount again (the mount replays the journal)",
        ], ShutdownCommand.Report("/m", h, noFlush: true, already: true));
    }

    [Fact]
    public void AnAnswerThatIsNotShutDownIsNotClaimedAsOne()
    {
        var h = new ShutdownCommand.MountHealth(PmemFsPoisonAbi.HealthOk, null, null);
        Assert.Equal(["/m: the daemon answered, but the file system is ok"], ShutdownCommand.Report("/m", h, noFlush: false, already: false));
    }

    [Theory]
    [InlineData(0u, "ok")]
    [InlineData(1u, "writes-refused")]
    [InlineData(2u, "shut-down")]
    [InlineData(9u, "unknown-9")]
    public void StateNames(uint state, string name) => Assert.Equal(name, new ShutdownCommand.MountHealth(state, null, null).StateName);

    [Fact]
    public void InfoSaysWhyAndSinceWhen()
    {
        Assert.Null(PathInfo.WhyText(null));
        Assert.Null(PathInfo.WhyText(new ShutdownCommand.MountHealth(0, null, null)));
        Assert.Equal("r", PathInfo.WhyText(new ShutdownCommand.MountHealth(2, null, "r")));
        Assert.Equal($"r (since {SinceText})", PathInfo.WhyText(new ShutdownCommand.MountHealth(2, Since, "r")));
    }

    [Fact]
    public void InfoPrintsTheWhyLineUnderTheFileSystemLine()
    {
        var flags = new Flags.FileFlagReport(new PmemFsInodeFlags { Health = PmemFsPoisonAbi.HealthShutDown, Granularity = PmemFsIoctlAbi.GranularityCacheLine });
        var info = new PathInfo("/m", true, null, false, flags, null) { Health = new ShutdownCommand.MountHealth(2, Since, "shut down by the administrator") };
        using var text = new StringWriter();
        info.WriteText(text);
        var lines = text.ToString().Split('\n');
        int fs = Array.FindIndex(lines, l => l.StartsWith("file system:", StringComparison.Ordinal));
        Assert.True(fs >= 0, text.ToString());
        Assert.Contains("shut down (changes get EIO", lines[fs], StringComparison.Ordinal);
        Assert.Matches($"^why: +shut down by the administrator \\(since {System.Text.RegularExpressions.Regex.Escape(SinceText)}\\)$", lines[fs + 2]);

        using var json = new StringWriter();
        info.WriteJson(json);
        using var doc = System.Text.Json.JsonDocument.Parse(json.ToString());
        Assert.Equal("shut-down", doc.RootElement.GetProperty("health").GetString());
        Assert.Equal("shut down by the administrator", doc.RootElement.GetProperty("healthReason").GetString());
        Assert.Equal(Since, DateTimeOffset.Parse(doc.RootElement.GetProperty("healthSince").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
    }
}

using System.Text.Json;

namespace PmemFs.Cli.Tests;

/// <summary>chattr, lsattr and info FILE as commands, off PmemFs (no mount needed).</summary>
public sealed class FlagCommandsTests : IDisposable
{
    private readonly string _dir;
    private readonly string _file;

    public FlagCommandsTests()
    {
        // tmpfs answers an unknown ioctl with ENOTTY, like every file system that is not PmemFs.
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        _dir = Path.Combine(root, $"pmemfs-cli-flags-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
        _file = Path.Combine(_dir, "f");
        File.WriteAllText(_file, "x");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ChattrOffPmemFsSaysSoAndExitsOne()
    {
        var r = Cli.Run("chattr", "+x", _file);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs chattr: {_file} is not on a PmemFs mount (Inappropriate ioctl for device) while setting flags", Assert.Single(r.ErrLines));
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void ChattrGoesOnWithTheOtherFilesAfterAFailure()
    {
        string missing = Path.Combine(_dir, "missing");
        var r = Cli.Run("chattr", "-i", missing, _file);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(
            [
                $"pmemfs chattr: No such file or directory while trying to stat {missing}",
                $"pmemfs chattr: {_file} is not on a PmemFs mount (Inappropriate ioctl for device) while setting flags",
            ],
            r.ErrLines);
    }

    [Fact]
    public void ChattrMinusFSuppressesTheErrorsButNotTheExitCode()
    {
        var r = Cli.Run("chattr", "-f", "+i", _file);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Err);
    }

    [Fact]
    public void ChattrRecursiveSkipsSymlinksButRefusesANamedOne()
    {
        string link = Path.Combine(_dir, "l");
        File.CreateSymbolicLink(link, _file);

        var named = Cli.Run("chattr", "+i", link);
        Assert.Equal(1, named.ExitCode);
        Assert.Equal($"pmemfs chattr: Operation not supported while setting flags on {link}", Assert.Single(named.ErrLines));

        var recursive = Cli.Run("chattr", "-R", "+i", _dir);
        Assert.Equal(1, recursive.ExitCode);
        Assert.Equal(2, recursive.ErrLines.Length); // the directory and f; not l
        Assert.DoesNotContain(recursive.ErrLines, l => l.Contains(link, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("+q")]
    [InlineData("+dax,bogus")]
    [InlineData("=x", "+i")]
    public void ABadFlagExpressionIsAUsageError(params string[] modes)
    {
        var r = Cli.Run(["chattr", .. modes, _file]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("pmemfs: chattr: ", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Equal("Try 'pmemfs chattr --help' for more information.", r.ErrLines[1]);
    }

    [Fact]
    public void ChattrWithoutArgumentsIsAUsageError() => Assert.Equal(2, Cli.Run("chattr").ExitCode);

    [Theory]
    [InlineData("chattr")]
    [InlineData("lsattr")]
    public void FlagCommandsHaveHelp(string command)
    {
        var r = Cli.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"pmemfs {command}", r.Out, StringComparison.Ordinal);
        Assert.Contains("-R", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void ChattrHelpWinsOverFlagArguments()
    {
        var r = Cli.Run("chattr", "-i", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("pmemfs chattr", r.Out, StringComparison.Ordinal);
        Assert.Equal("", r.Err);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChattrHelpAfterTheFirstFileOrDoubleDashIsAFile(bool afterDoubleDash)
    {
        // Everything from the first file on, or after "--", is a file (docs/cli.md): "--help" too.
        string[] args = afterDoubleDash ? ["chattr", "+i", "--", "--help"] : ["chattr", "+i", _file, "--help"];
        var r = Cli.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Out);
        Assert.Equal("pmemfs chattr: No such file or directory while trying to stat --help", r.ErrLines[^1]);
    }

    [Fact]
    public void LsattrOffPmemFsSaysWhatLsattrSaysAndExitsOne()
    {
        var r = Cli.Run("lsattr", _file);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs lsattr: Inappropriate ioctl for device While reading flags on {_file}", Assert.Single(r.ErrLines));
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void LsattrOfADirectoryListsItsEntriesAndDashDTheDirectoryItself()
    {
        File.WriteAllText(Path.Combine(_dir, ".hidden"), "");
        var entries = Cli.Run("lsattr", _dir);
        Assert.Equal(1, entries.ExitCode);
        Assert.Equal([Path.Combine(_dir, "f")], Failed(entries));

        var all = Cli.Run("lsattr", "-a", _dir);
        Assert.Equal([Path.Combine(_dir, ".hidden"), Path.Combine(_dir, "f")], Failed(all));

        var itself = Cli.Run("lsattr", "-d", _dir);
        Assert.Equal([_dir], Failed(itself));
    }

    [Fact]
    public void LsattrJsonPrintsAnArrayEvenWhenEveryFileFailed()
    {
        var r = Cli.Run("lsattr", "--json", _file);
        Assert.Equal(1, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(0, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void LsattrOfAMissingFileSaysItCannotStatIt()
    {
        string missing = Path.Combine(_dir, "missing");
        var r = Cli.Run("lsattr", missing);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs lsattr: No such file or directory while trying to stat {missing}", Assert.Single(r.ErrLines));
    }

    [Fact]
    public void LsattrWithAnUnknownOptionIsAUsageError()
    {
        var r = Cli.Run("lsattr", "-z", _file);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(["pmemfs: lsattr: unknown option '-z'", "Try 'pmemfs lsattr --help' for more information."], r.ErrLines);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void InfoOfADirectoryOffPmemFsIsAClearError()
    {
        var r = Cli.Run("info", _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith($"pmemfs: info: {_dir}: is a directory that is not on a PmemFs mount", Assert.Single(r.ErrLines), StringComparison.Ordinal);
    }

    [Fact]
    public void InfoOfARegularFileOffPmemFsStillReadsItAsAnImage()
    {
        var r = Cli.Run("info", _file);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not a PmemFs image", Assert.Single(r.ErrLines), StringComparison.Ordinal);
    }

    /// <summary>The paths lsattr could not read, from its error lines.</summary>
    private static string[] Failed(CliResult r) =>
        r.ErrLines.Select(l => l[(l.IndexOf(" on ", StringComparison.Ordinal) + 4)..]).ToArray();
}

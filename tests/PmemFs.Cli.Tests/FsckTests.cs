using System.Text.Json;

namespace PmemFs.Cli.Tests;

public sealed class FsckTests : IDisposable
{
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    /// <summary>An operational error: exit 8, exactly one line on stderr naming the image, nothing on stdout.</summary>
    private void AssertOperationalError(CliResult r, string expected)
    {
        Assert.True(r.ExitCode == 8, r.ToString());
        string line = Assert.Single(r.ErrLines);
        Assert.StartsWith($"pmemfs: fsck: {_image.Path}: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void FsckOfACleanImageExitsZeroAndWritesNothing()
    {
        Cli.Mkfs(_image);
        Populate.AddFiles(_image.Path);
        string before = _image.Hash();

        var r = Cli.Run("fsck", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal($"{_image.Path}: clean, 3 inodes, 3/", r.OutLines[^1][..($"{_image.Path}: clean, 3 inodes, 3/".Length)]);
        Assert.EndsWith(" data blocks used", r.OutLines[^1], StringComparison.Ordinal);
        Assert.Equal("", r.Err);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void FsckOfAMissingFileIsAnOperationalError()
    {
        AssertOperationalError(Cli.Run("fsck", _image.Path), "no such file");
        Assert.False(_image.Exists);
    }

    [Fact]
    public void FsckOfAForeignFileIsAnOperationalErrorAndWritesNothing()
    {
        _image.WriteRandom(16L << 20);
        string before = _image.Hash();
        AssertOperationalError(Cli.Run("fsck", _image.Path), "not a PmemFs image");
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void FsckOfASmallForeignFileIsAnOperationalError()
    {
        _image.WriteRandom(4096);
        string before = _image.Hash();
        AssertOperationalError(Cli.Run("fsck", _image.Path), "not a PmemFs image");
        Assert.Equal(before, _image.Hash());
    }

    [Theory]
    [InlineData(16L << 20)]
    [InlineData(1L << 20)]
    public void FsckOfATruncatedImageIsAnOperationalErrorAndWritesNothing(long length)
    {
        Cli.Mkfs(_image, "32M");
        _image.Truncate(length);
        string before = _image.Hash();
        AssertOperationalError(Cli.Run("fsck", _image.Path), "truncated");
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void FsckOfAnEmptyFileIsAnOperationalError()
    {
        _image.WriteZeros(0);
        AssertOperationalError(Cli.Run("fsck", _image.Path), "empty");
    }

    [Fact]
    public void FsckOfAnImageWithAFlippedByteInAnInodeReportsTheInodeAndExitsWith4()
    {
        Cli.Mkfs(_image);
        ulong ino = Populate.AddFiles(_image.Path);
        _image.FlipByte(Populate.InodeOffset(_image.Path, ino) + 48); // the size field
        string before = _image.Hash();

        var r = Cli.Run("fsck", _image.Path);
        Assert.True(r.ExitCode == 4, r.ToString());
        Assert.Contains(r.OutLines, line => line.StartsWith($"inode {ino}", StringComparison.Ordinal));
        Assert.Matches($@"^{Regex(_image.Path)}: \d+ problems? found$", r.OutLines[^1]);
        Assert.Equal("", r.Err);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void FsckJsonOfACleanImageIsOneJsonObject()
    {
        Cli.Mkfs(_image);
        var r = Cli.Run("fsck", "--json", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(_image.Path, root.GetProperty("image").GetString());
        Assert.True(root.GetProperty("clean").GetBoolean());
        Assert.Equal(0, root.GetProperty("problems").GetArrayLength());
        Assert.Equal(JsonValueKind.Array, root.GetProperty("notes").ValueKind);
        Assert.Equal(1, root.GetProperty("stats").GetProperty("inodes").GetInt64());
        Assert.Equal(1, root.GetProperty("stats").GetProperty("directories").GetInt64());
    }

    [Fact]
    public void FsckJsonListsTheProblemsOfADamagedImage()
    {
        Cli.Mkfs(_image);
        ulong ino = Populate.AddFiles(_image.Path);
        _image.FlipByte(Populate.InodeOffset(_image.Path, ino) + 48);

        var r = Cli.Run("fsck", "--json", _image.Path);
        Assert.Equal(4, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.False(doc.RootElement.GetProperty("clean").GetBoolean());
        var problems = doc.RootElement.GetProperty("problems");
        Assert.True(problems.GetArrayLength() > 0);
        Assert.Contains(problems.EnumerateArray(), p => p.GetProperty("where").GetString() == $"inode {ino}");
    }

    [Fact]
    public void FsckReplaysADirtyJournalInItsPrivateViewAndSaysSoInANote()
    {
        Cli.Mkfs(_image);
        Populate.AddFiles(_image.Path, cleanUnmount: false);
        string before = _image.Hash();

        var r = Cli.Run("fsck", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(r.OutLines, line => line.StartsWith("note: ", StringComparison.Ordinal) && line.Contains("journal", StringComparison.OrdinalIgnoreCase));
        Assert.StartsWith($"{_image.Path}: clean, 3 inodes", r.OutLines[^1], StringComparison.Ordinal);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void FsckQuietPrintsNothingForACleanImage()
    {
        Cli.Mkfs(_image);
        var r = Cli.Run("fsck", "-q", _image.Path);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Out + r.Err);
    }

    [Fact]
    public void FsckVerbosePrintsTheStatistics()
    {
        Cli.Mkfs(_image);
        Populate.AddFiles(_image.Path);
        var r = Cli.Run("fsck", "--verbose", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(r.OutLines, l => l.Trim().StartsWith("regular files:", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(r.OutLines, l => l.Trim().StartsWith("directories:", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" 2", StringComparison.Ordinal));
    }

    [Fact]
    public void FsckShowsProgressPerPhaseOnStderrWhenAsked()
    {
        Cli.Mkfs(_image);
        var r = Cli.Run("fsck", "--progress", _image.Path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(r.ErrLines, l => l.StartsWith("pmemfs fsck: ", StringComparison.Ordinal));
        Assert.DoesNotContain("pmemfs fsck:", r.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fsck")]
    [InlineData("fsck --frobnicate")]
    [InlineData("fsck --frobnicate image")]
    [InlineData("fsck a b")]
    public void FsckUsageErrorsExitWith16(string commandLine)
    {
        var r = Cli.Run(commandLine.Split(' '));
        Assert.Equal(16, r.ExitCode);
        Assert.StartsWith("pmemfs: fsck: ", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Equal("", r.Out);
    }

    private static string Regex(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}

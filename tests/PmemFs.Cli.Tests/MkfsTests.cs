using System.Text.Json;

namespace PmemFs.Cli.Tests;

public sealed class MkfsTests : IDisposable
{
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    private string Uuid()
    {
        var r = Cli.Run("info", "--json", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.GetProperty("uuid").GetString()!;
    }

    [Fact]
    public void MkfsCreatesAnImageThatFsckCallsClean()
    {
        var mkfs = Cli.Run("mkfs", _image.Path, "--size", "32M");
        Assert.True(mkfs.ExitCode == 0, mkfs.ToString());
        Assert.Equal(32L << 20, _image.Length);
        Assert.Contains("PmemFs file system created", mkfs.Out, StringComparison.Ordinal);
        foreach (string field in new[] { "size:", "inodes:", "journal:", "data area:", "uuid:", "store granularity:", "user-space flushes suffice:" })
            Assert.Contains(field, mkfs.Out, StringComparison.Ordinal);
        Assert.Equal("", mkfs.Err);

        var fsck = Cli.Run("fsck", _image.Path);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.StartsWith($"{_image.Path}: clean, 1 inode, ", fsck.OutLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsWithoutSizeRefusesAnImageThatDoesNotExist()
    {
        var r = Cli.Run("mkfs", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs: mkfs: {_image.Path}: does not exist; give --size to create it", Assert.Single(r.ErrLines));
        Assert.False(_image.Exists);
    }

    [Fact]
    public void MkfsRefusesToOverwriteAnExistingFileSystemWithoutForce()
    {
        Cli.Mkfs(_image);
        string before = _image.Hash();

        var r = Cli.Run("mkfs", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs: mkfs: {_image.Path}: appears to contain an existing PmemFs file system; use --force to overwrite it", Assert.Single(r.ErrLines));
        Assert.Equal("", r.Out);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void MkfsWithForceOverwritesAnExistingFileSystem()
    {
        Cli.Mkfs(_image);
        string first = Uuid();

        var r = Cli.Run("mkfs", _image.Path, "--force", "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("", r.Out + r.Err);
        Assert.NotEqual(first, Uuid());
        Assert.Equal(0, Cli.Run("fsck", _image.Path).ExitCode);
    }

    [Fact]
    public void MkfsRefusesAFileThatHoldsDataWithoutForce()
    {
        _image.WriteRandom(16L << 20);
        string before = _image.Hash();

        var r = Cli.Run("mkfs", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("appears to contain data", Assert.Single(r.ErrLines), StringComparison.Ordinal);
        Assert.Contains("--force", r.Err, StringComparison.Ordinal);
        Assert.Equal(before, _image.Hash());

        Assert.Equal(0, Cli.Run("mkfs", _image.Path, "--force", "--quiet").ExitCode);
        Assert.Equal(0, Cli.Run("fsck", _image.Path).ExitCode);
    }

    [Fact]
    public void MkfsFormatsAnAllZeroFileWithoutForceAndKeepsItsSize()
    {
        _image.WriteZeros(20L << 20);
        var r = Cli.Run("mkfs", _image.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(20L << 20, _image.Length);
        Assert.Equal(0, Cli.Run("fsck", _image.Path).ExitCode);
    }

    [Fact]
    public void MkfsSizesAnEmptyFileWithoutForce()
    {
        _image.WriteZeros(0);
        Assert.Equal(1, Cli.Run("mkfs", _image.Path).ExitCode); // no size to use

        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(16L << 20, _image.Length);
        Assert.Equal(0, Cli.Run("fsck", _image.Path).ExitCode);
    }

    [Fact]
    public void MkfsReservesEveryBlockOfASparseImage()
    {
        _image.WriteZeros(32L << 20); // SetLength: a file that is one big hole
        Assert.True(ImageFile.Inspect(_image.Path).AllocatedBytes < 32L << 20);

        var r = Cli.Run("mkfs", _image.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(ImageFile.Inspect(_image.Path).IsFullyAllocated);
    }

    [Fact]
    public void MkfsRefusesASizeThatDiffersFromTheExistingFileWithoutForce()
    {
        _image.WriteZeros(32L << 20);
        var r = Cli.Run("mkfs", _image.Path, "--size", "64M");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("use --force to resize it", Assert.Single(r.ErrLines), StringComparison.Ordinal);
        Assert.Equal(32L << 20, _image.Length);
    }

    [Theory]
    [InlineData("64M")]
    [InlineData("16M")]
    public void MkfsWithForceResizesTheImageToTheGivenSize(string size)
    {
        Cli.Mkfs(_image, "32M");
        var r = Cli.Run("mkfs", _image.Path, "--size", size, "--force", "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(SizeParser.TryParse(size, out long bytes, out _));
        Assert.Equal(bytes, _image.Length);
        Assert.Equal(0, Cli.Run("fsck", _image.Path).ExitCode);
    }

    [Theory]
    [InlineData("0", "greater than zero")]
    [InlineData("-5M", "negative")]
    [InlineData("12X", "not a size")]
    [InlineData("1000", "multiple of 4096")]
    [InlineData("8M", "smaller than the 16 MiB")]
    public void MkfsRefusesABadSizeAsAUsageError(string size, string expected)
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", size);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("pmemfs: mkfs: invalid --size: ", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Contains(expected, r.ErrLines[0], StringComparison.Ordinal);
        Assert.Equal("", r.Out);
        Assert.False(_image.Exists);
    }

    [Fact]
    public void MkfsRefusesMoreInodesThanTheSizeHoldsAndLeavesNoFileBehind()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--inodes", "1000000");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("fewer inodes", Assert.Single(r.ErrLines), StringComparison.Ordinal);
        Assert.False(_image.Exists);
    }

    [Fact]
    public void MkfsRefusesAnImageThatIsNotAWholeNumberOfBlocks()
    {
        _image.WriteZeros((16L << 20) + 100);
        var r = Cli.Run("mkfs", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not a multiple of 4096", Assert.Single(r.ErrLines), StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsRefusesADirectory()
    {
        var r = Cli.Run("mkfs", Path.GetTempPath(), "--size", "16M");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a directory", Assert.Single(r.ErrLines), StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsKeepsTheLabelAndTheInodeCount()
    {
        Cli.Mkfs(_image, "32M", "--label", "scratch disk", "--inodes", "5000");
        var r = Cli.Run("info", "--json", _image.Path);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("scratch disk", doc.RootElement.GetProperty("label").GetString());
        Assert.Equal(5000, doc.RootElement.GetProperty("usage").GetProperty("inodes").GetInt64());
    }

    [Fact]
    public void MkfsRefusesALabelLongerThan64Bytes()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--label", new string('x', 65));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("invalid --label", r.ErrLines[0], StringComparison.Ordinal);
        Assert.False(_image.Exists);
    }

    [Fact]
    public void MkfsShowsProgressOnStderrWhenAskedAndTheSummaryOnStdout()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "32M", "--progress");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("pmemfs mkfs: zeroing metadata 100%", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("zeroing", r.Out, StringComparison.Ordinal);
        Assert.Contains("PmemFs file system created", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void MkfsQuietPrintsNothing()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "-q");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Out + r.Err);
    }

    [Fact]
    public void MkfsWithAnUnknownOptionIsAUsageErrorAndCreatesNothing()
    {
        var r = Cli.Run("mkfs", _image.Path, "--size", "16M", "--frobnicate");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("pmemfs: mkfs: ", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Contains("--frobnicate", r.ErrLines[0], StringComparison.Ordinal);
        Assert.False(_image.Exists);
    }
}

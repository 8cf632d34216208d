using System.Text.Json;

namespace PmemFs.Cli.Tests;

public sealed class InfoTests : IDisposable
{
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    [Fact]
    public void InfoPrintsGeometryUsageAndDurability()
    {
        Cli.Mkfs(_image, "32M", "--label", "lab");
        string before = _image.Hash();

        var r = Cli.Run("info", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("", r.Err);
        foreach (string expected in new[]
        {
            "size:", "32 MiB (33554432 bytes)", "blocks:", "8192", "label:", "lab", "journal:", "clean",
            "layout:", "superblock", "bitmap", "inodes", "dirents", "extents", "rmap", "data",
            "usage:", "data blocks:", "1 used of 2048", "durability:", "store granularity:", "user-space flushes suffice:", "survives:",
        })
        {
            Assert.Contains(expected, r.Out, StringComparison.Ordinal);
        }
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void InfoJsonDescribesTheLayoutInBlocks()
    {
        Cli.Mkfs(_image, "32M");
        var r = Cli.Run("info", "--json", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(32L << 20, root.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(8192, root.GetProperty("blocks").GetInt64());
        Assert.Equal("clean", root.GetProperty("journal").GetString());

        // The areas tile the region from block 0 to the last block, in order.
        long next = 0;
        foreach (var area in root.GetProperty("layout").EnumerateArray())
        {
            Assert.Equal(next, area.GetProperty("startBlock").GetInt64());
            next += area.GetProperty("blocks").GetInt64();
        }
        Assert.Equal(8192, next);

        var usage = root.GetProperty("usage");
        Assert.Equal("mount", usage.GetProperty("source").GetString());
        Assert.Equal(1, usage.GetProperty("usedInodes").GetInt64());
        Assert.Equal(usage.GetProperty("dataBlocks").GetInt64(), usage.GetProperty("freeDataBlocks").GetInt64());

        var durability = root.GetProperty("durability");
        string granularity = durability.GetProperty("storeGranularity").GetString()!;
        Assert.True(granularity is "byte" or "cache line" or "page", granularity);
        Assert.Equal(granularity != "page", durability.GetProperty("userSpaceFlushSuffices").GetBoolean());
    }

    [Fact]
    public void InfoOfAFileInSharedMemorySaysItDoesNotSurviveAReboot()
    {
        if (!_image.Path.StartsWith("/dev/shm/", StringComparison.Ordinal)) return; // no /dev/shm here
        Cli.Mkfs(_image, "16M");
        var r = Cli.Run("info", _image.Path);
        Assert.Contains("tmpfs", r.Out, StringComparison.Ordinal);
        Assert.Contains("lost at reboot", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void InfoOfAnImageWithADirtyJournalReplaysItPrivatelyWithANote()
    {
        Cli.Mkfs(_image, "32M");
        Populate.AddFiles(_image.Path, cleanUnmount: false);
        string before = _image.Hash();

        var r = Cli.Run("info", "--json", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("dirty", doc.RootElement.GetProperty("journal").GetString());
        Assert.Equal("replayed", doc.RootElement.GetProperty("usage").GetProperty("source").GetString());
        Assert.True(doc.RootElement.GetProperty("notes").GetArrayLength() > 0);
        Assert.Equal(before, _image.Hash());

        var text = Cli.Run("info", _image.Path);
        Assert.Contains(text.OutLines, l => l.StartsWith("note: usage as after replaying the journal", StringComparison.Ordinal));
        Assert.Equal(before, _image.Hash()); // replayed in memory only
    }

    [Fact]
    public void InfoOfAForeignFileFailsWithOneLine()
    {
        _image.WriteRandom(16L << 20);
        var r = Cli.Run("info", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not a PmemFs image", Assert.Single(r.ErrLines), StringComparison.Ordinal);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void InfoOfAMissingFileFailsWithOneLine()
    {
        var r = Cli.Run("info", _image.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"pmemfs: info: {_image.Path}: no such file", Assert.Single(r.ErrLines));
    }

    [Fact]
    public void InfoWithoutAnImageIsAUsageError()
    {
        var r = Cli.Run("info");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("pmemfs: info: ", r.ErrLines[0], StringComparison.Ordinal);
    }
}

using System.Text.Json;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Cli.Tests;

/// <summary><c>pmemfs fsck --repair</c>: exit codes 0 / 1 / 4 / 8, one line per change, JSON, refusals.</summary>
public sealed class FsckRepairTests : IDisposable
{
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    private void AssertCleanNow()
    {
        var r = Cli.Run("fsck", _image.Path);
        Assert.True(r.ExitCode == 0, "fsck after repair:\n" + r);
    }

    [Fact]
    public void RepairOfACleanImageExitsZeroAndWritesNothing()
    {
        Cli.Mkfs(_image);
        Populate.AddFiles(_image.Path);
        string before = _image.Hash();

        var r = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain(r.OutLines, l => l.StartsWith("repaired: ", StringComparison.Ordinal));
        Assert.StartsWith($"{_image.Path}: clean, 3 inodes", r.OutLines[^1], StringComparison.Ordinal);
        Assert.Equal("", r.Err);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void RepairOfADamagedInodeSaysWhatItChangedAndExitsOne()
    {
        Cli.Mkfs(_image);
        ulong ino = Populate.AddFiles(_image.Path);
        _image.FlipByte(Populate.InodeOffset(_image.Path, ino) + 48); // the size field: checksum mismatch
        Assert.Equal(4, Cli.Run("fsck", _image.Path).ExitCode);

        var r = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains(r.OutLines, l => l.StartsWith($"repaired: inode {ino}: record cleared: it cannot be trusted (checksum mismatch)", StringComparison.Ordinal));
        Assert.Contains(r.OutLines, l => l.StartsWith("repaired: dirent slot ", StringComparison.Ordinal) && l.Contains($"points at free inode {ino}", StringComparison.Ordinal));
        Assert.Contains(r.OutLines, l => l.StartsWith("repaired: bitmap: ", StringComparison.Ordinal) && l.Contains("marked free", StringComparison.Ordinal));
        int changes = r.OutLines.Count(l => l.StartsWith("repaired: ", StringComparison.Ordinal));
        Assert.Matches($@"^{Regex(_image.Path)}: {changes} changes made, clean, 2 inodes, ", r.OutLines[^1]);
        Assert.Equal("", r.Err);
        AssertCleanNow();

        // A second repair has nothing left to do.
        var again = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(again.ExitCode == 0, again.ToString());
    }

    [Fact]
    public void RepairJsonListsTheChanges()
    {
        Cli.Mkfs(_image);
        ulong ino = Populate.AddFiles(_image.Path);
        _image.FlipByte(Populate.InodeOffset(_image.Path, ino) + 48);

        var r = Cli.Run("fsck", "--repair", "--json", _image.Path);
        Assert.True(r.ExitCode == 1, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("clean").GetBoolean());
        var changes = root.GetProperty("changes");
        Assert.Contains(changes.EnumerateArray(), c => c.GetProperty("where").GetString() == $"inode {ino}"
            && c.GetProperty("message").GetString()!.StartsWith("record cleared", StringComparison.Ordinal));
        Assert.Equal(0, root.GetProperty("problems").GetArrayLength());
        Assert.Equal(2, root.GetProperty("stats").GetProperty("inodes").GetInt64());
    }

    [Fact]
    public void RepairReplaysAPendingJournalOntoTheImage()
    {
        Cli.Mkfs(_image);
        Populate.AddFiles(_image.Path, cleanUnmount: false);

        var r = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains(r.OutLines, l => l.StartsWith("repaired: journal: replayed ", StringComparison.Ordinal));

        var check = Cli.Run("fsck", _image.Path);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("note: journal: clean, nothing to replay", check.OutLines);
    }

    [Fact]
    public void WhatRepairCannotFixExitsFour()
    {
        Cli.Mkfs(_image);
        // A symlink whose target block is unwritten: repair does not invent a target.
        using (var media = PmemMedia.Open(_image.Path))
        {
            using (var fs = FileSystem.Mount(media, new FileSystemOptions { Name = _image.Path }))
                Assert.Equal(Errno.Ok, fs.Symlink(FormatConstants.RootIno, "sym"u8, "target"u8, Credentials.Root, out _));
            var g = ImageReader.ReadSuperblock(media, _image.Path).Superblock.Geometry;
            for (long slot = 0; slot < g.ExtentCount; slot++)
            {
                var bytes = media.Read(g.ExtentOffset(slot), DiskExtent.Size).ToArray();
                if (!DiskExtent.VerifyRead(bytes, slot, out var e).IsOk) continue;
                DiskExtent.Seal(e with { State = ExtentState.Unwritten }, bytes);
                media.Write(g.ExtentOffset(slot), bytes);
                media.Persist(g.ExtentOffset(slot), bytes.Length);
            }
        }

        var r = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(r.ExitCode == 4, r.ToString());
        Assert.Contains(r.OutLines, l => l.Contains("symlink target", StringComparison.Ordinal));
        Assert.Matches($@"^{Regex(_image.Path)}: 1 problem left uncorrected$", r.OutLines[^1]);
    }

    [Fact]
    public void RepairOfAnImageWithNoUsableSuperblockIsAnOperationalError()
    {
        Cli.Mkfs(_image);
        _image.FlipByte(100);
        _image.FlipByte(_image.Length - 4096 + 100);
        string before = _image.Hash();
        var r = Cli.Run("fsck", "--repair", _image.Path);
        Assert.True(r.ExitCode == 8, r.ToString());
        Assert.Equal($"pmemfs: fsck: {_image.Path}: both superblocks are unusable", Assert.Single(r.ErrLines)[..($"pmemfs: fsck: {_image.Path}: both superblocks are unusable".Length)]);
        Assert.Equal("", r.Out);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void RepairOfAMountedImageIsRefused()
    {
        Cli.Mkfs(_image);
        _image.FlipByte(100); // something to repair
        string before = _image.Hash();
        // What a mounted daemon holds for its whole life.
        using (var daemon = ImageLock.TryAcquire(_image.Path, exclusive: true, TimeSpan.Zero))
        {
            Assert.NotNull(daemon);
            var r = Cli.Run("fsck", "--repair", _image.Path);
            Assert.True(r.ExitCode == 8, r.ToString());
            Assert.Contains("in use by a mounted PmemFs daemon", Assert.Single(r.ErrLines), StringComparison.Ordinal);
            Assert.Equal("", r.Out);
        }
        Assert.Equal(before, _image.Hash());
        Assert.Equal(1, Cli.Run("fsck", "--repair", _image.Path).ExitCode);
        AssertCleanNow();
    }

    private static string Regex(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}

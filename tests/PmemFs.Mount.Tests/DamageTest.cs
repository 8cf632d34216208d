using System.Security.Cryptography;
using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Damaged metadata on a real mount (docs/health.md, "Damaged metadata" and "Salvage"): an image
/// with one file's inode record damaged mounts read-write; that file answers EUCLEAN
/// ("Structure needs cleaning") while every other file reads back exactly and takes writes, and
/// the daemon stays up; `pmemfs info` counts the damage; fsck reports it and --repair mends it.
/// A killed daemon's journal plus a damaged primary superblock mount read-only and nothing is
/// written to the image. Every test ends with a clean fsck.
/// </summary>
public sealed class DamageTest
{
    private const int InodeRecordSize = 256;
    private const int EUCLEAN = 117;

    private static long InodeTableOffset(MountedFileSystem fs)
    {
        using var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "info", fs.Image, "--json").Out);
        var area = doc.RootElement.GetProperty("layout").EnumerateArray().First(a => a.GetProperty("area").GetString() == "inodes");
        return area.GetProperty("startBlock").GetInt64() * 4096;
    }

    /// <summary>Overwrites 4 bytes of the unmounted image inside a record's checksummed body.</summary>
    private static void Poke(MountedFileSystem fs, long offset)
    {
        using var image = new FileStream(fs.Image, FileMode.Open, FileAccess.Write);
        image.Position = offset;
        image.Write([0xA5, 0xA5, 0xA5, 0xA5]);
    }

    private static ulong InodeOf(string path) => ulong.Parse(Proc.Check("stat", "-c", "%i", path).Out.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [SkippableFact]
    public void AFileWithADamagedInodeAnswersEucleanAndEveryOtherFileWorks()
    {
        using var fs = new MountedFileSystem("64M");
        var a = RandomNumberGenerator.GetBytes(300_000);
        File.WriteAllBytes(fs["a"], a);
        File.WriteAllText(fs["b"], "the damaged one");
        Directory.CreateDirectory(fs["d"]);
        File.WriteAllText(fs["d/e"], "deep");
        ulong b = InodeOf(fs["b"]);
        fs.Unmount();
        long table = InodeTableOffset(fs);
        Poke(fs, table + (long)(b - 1) * InodeRecordSize + 8);
        Poke(fs, table + 4000L * InodeRecordSize + 8); // a slot nothing uses

        fs.Mount();
        // .NET has no name for EUCLEAN ("Unknown error -1"): ask open(2) itself.
        Assert.Equal(-1, Native.open(fs["b"], Native.O_RDONLY, 0));
        Assert.Equal(EUCLEAN, Native.Errno);
        Assert.ThrowsAny<IOException>(() => File.Delete(fs["b"]));
        Assert.Equal(a, File.ReadAllBytes(fs["a"]));
        Assert.Equal("deep", File.ReadAllText(fs["d/e"]));
        File.AppendAllText(fs["d/e"], "er");
        Assert.Equal("deeper", File.ReadAllText(fs["d/e"]));
        var n = RandomNumberGenerator.GetBytes(100_000);
        File.WriteAllBytes(fs["new"], n);
        Assert.Equal(n, File.ReadAllBytes(fs["new"]));
        using (var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "info", fs.Path, "--json").Out))
        {
            Assert.Equal("ok", doc.RootElement.GetProperty("health").GetString());
            Assert.Equal(1, doc.RootElement.GetProperty("sickFiles").GetInt32());
            Assert.Equal(2, doc.RootElement.GetProperty("quarantinedSlots").GetInt32());
        }
        fs.Unmount();

        var info = Proc.Check(fs.Cli, "info", fs.Image).Out;
        Assert.Contains($"inode {b} /b:", info, StringComparison.Ordinal);
        Assert.Contains("inode slot 4000:", info, StringComparison.Ordinal);
        Assert.False(fs.Fsck().Ok);
        Assert.Equal(1, Proc.Run(fs.Cli, ["fsck", "--repair", fs.Image]).ExitCode);
        Assert.True(fs.Fsck().Ok);
        fs.Mount();
        Assert.Equal(a, File.ReadAllBytes(fs["a"]));
        Assert.Equal(n, File.ReadAllBytes(fs["new"]));
        fs.Unmount();
        Assert.True(fs.Fsck().Ok);
    }

    [SkippableFact]
    public void AReadOnlyMountSalvagesAKilledDaemonsJournalAndADamagedPrimarySuperblockAndWritesNothing()
    {
        using var fs = new MountedFileSystem("64M");
        var a = RandomNumberGenerator.GetBytes(200_000);
        File.WriteAllBytes(fs["a"], a);
        fs.Remount();
        File.WriteAllText(fs["late"], "only the journal has me");
        fs.KillDaemon();
        fs.CleanDeadMount();
        Poke(fs, 8);
        var before = SHA256.HashData(File.ReadAllBytes(fs.Image));

        var r = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path, "-o", "ro"]);
        try
        {
            Assert.True(r.Ok, r.ToString());
            Assert.Equal("only the journal has me", File.ReadAllText(fs["late"]));
            Assert.Equal(a, File.ReadAllBytes(fs["a"]));
            var ex = Assert.ThrowsAny<IOException>(() => File.WriteAllText(fs["x"], "no"));
            Assert.Contains("Read-only", ex.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally { fs.Unmount(); }
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(fs.Image)));

        fs.Mount();
        Assert.Equal("only the journal has me", File.ReadAllText(fs["late"]));
        fs.Unmount();
        Assert.True(fs.Fsck().Ok);
    }

    private static int OpenErrno(string path)
    {
        int fd = Native.open(path, Native.O_RDONLY, 0);
        if (fd < 0) return Native.Errno;
        Native.close(fd);
        return 0;
    }

    [SkippableFact]
    public void ADamagedInodeCostsOnlyItsFile()
    {
        using var fs = new MountedFileSystem("64M");
        var data = new byte[100_000];
        new Random(3).NextBytes(data);
        for (int i = 0; i < 5; i++) File.WriteAllBytes(fs[$"f{i}"], data);
        ulong victim = Native.LStat(fs["f2"]).Ino;
        long inodeTable;
        using (var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "rmap", fs.Path, "--json").Out))
            inodeTable = doc.RootElement.GetProperty("owners").EnumerateArray().First(o => o.GetProperty("kind").GetString() == "inode table").GetProperty("physical").GetInt64();
        fs.Unmount();

        // One stray word in f2's inode record (inode N lives in slot N-1 of the table).
        long recordSize;
        using (var info = JsonDocument.Parse(Proc.Check(fs.Cli, "info", fs.Image, "--json").Out))
            recordSize = info.RootElement.GetProperty("layout").EnumerateArray().First(a => a.GetProperty("area").GetString() == "inodes").GetProperty("blocks").GetInt64() * 4096
                / info.RootElement.GetProperty("usage").GetProperty("inodes").GetInt64();
        using (var image = new FileStream(fs.Image, FileMode.Open, FileAccess.Write))
        {
            image.Position = inodeTable + (long)(victim - 1) * recordSize + 40;
            image.Write([0xA5, 0xA5, 0xA5, 0xA5]);
        }

        fs.Mount();
        Assert.Equal(EUCLEAN, OpenErrno(fs["f2"])); // "Structure needs cleaning", as XFS answers
        foreach (var name in new[] { "f0", "f1", "f3", "f4" }) Assert.Equal(data, File.ReadAllBytes(fs[name]));
        File.AppendAllText(fs["f3"], "more");
        File.WriteAllText(fs["new"], "new file");
        fs.Unmount();

        var text = Proc.Check(fs.Cli, "info", fs.Image).Out;
        Assert.Contains("sick files:", text, StringComparison.Ordinal);
        Assert.Contains($"inode {victim}:", text, StringComparison.Ordinal);
        Assert.False(fs.Fsck().Ok);
        var repair = Proc.Run(fs.Cli, ["fsck", "--repair", fs.Image]);
        Assert.Equal(1, repair.ExitCode);
        Assert.True(fs.Fsck().Ok);
        fs.Mount();
        Assert.Equal("new file", File.ReadAllText(fs["new"]));
        Assert.Equal(data, File.ReadAllBytes(fs["f0"]));
        fs.Unmount();
        Assert.True(fs.Fsck().Ok);
    }
}

using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Damage stays where it is, through a real mount (issue 13, item 6): an image with one
/// damaged inode record mounts; that file answers EUCLEAN ("Structure needs cleaning") while
/// every other file reads back and takes writes; `pmemfs info IMAGE` names the sick file;
/// fsck reports it and `fsck --repair` brings back an image that mounts healthy and fsck-clean.
/// </summary>
public sealed class DamageTest
{
    private const int EUCLEAN = 117;

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

using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Poison on a real mount of an emulated region (`pmemfs poison`, PMEMFS_IOC_POISON): reads
/// through the mount get EIO exactly on the poisoned page and the rest of the file reads back;
/// the daemon stays up; `poison list` names the file and offset; a whole-page overwrite, zero
/// range and punch clear it; poison the file system was not told of is found by the read that
/// touches it; the list survives a remount; poisoned metadata refuses writes with a clear message
/// until `fsck --repair`, which brings the image back. Every test ends with a clean fsck.
/// </summary>
public sealed class PoisonTest
{
    private const int Page = 4096;
    private const int EIO = 5;

    private static long PhysOf(MountedFileSystem fs, string rel, long fileOffset)
    {
        using var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "rmap", fs.Path, "--json").Out);
        foreach (var o in doc.RootElement.GetProperty("owners").EnumerateArray())
        {
            if (o.GetProperty("path").ValueKind != JsonValueKind.String || o.GetProperty("path").GetString() != "/" + rel) continue;
            if (o.GetProperty("kind").GetString() != "data") continue;
            long fo = o.GetProperty("file_offset").GetInt64(), len = o.GetProperty("length").GetInt64();
            if (fileOffset >= fo && fileOffset < fo + len) return o.GetProperty("physical").GetInt64() + (fileOffset - fo);
        }
        throw new InvalidOperationException($"no extent of /{rel} at {fileOffset}");
    }

    /// <summary>pread of one page: its bytes, or the errno.</summary>
    private static unsafe (byte[]? Data, int Errno) ReadPage(string path, long offset)
    {
        int fd = Native.open(path, Native.O_RDONLY, 0);
        Assert.True(fd >= 0, $"open {path}: errno {Native.Errno}");
        try
        {
            var buf = new byte[Page];
            fixed (byte* p = buf)
            {
                nint n = Native.pread(fd, p, Page, offset);
                return n < 0 ? (null, Native.Errno) : (buf[..(int)n], 0);
            }
        }
        finally { Native.close(fd); }
    }

    private static unsafe int PreadErrno(int fd, long offset)
    {
        var buf = new byte[Page];
        fixed (byte* p = buf) return Native.pread(fd, p, Page, offset) < 0 ? Native.Errno : 0;
    }

    /// <summary>pwrite: 0 or the errno.</summary>
    private static unsafe int WriteAt(string path, long offset, byte[] bytes)
    {
        int fd = Native.open(path, Native.O_WRONLY, 0);
        Assert.True(fd >= 0, $"open {path}: errno {Native.Errno}");
        try
        {
            fixed (byte* p = bytes)
                return Native.pwrite(fd, p, (nuint)bytes.Length, offset) == bytes.Length ? 0 : Native.Errno;
        }
        finally { Native.close(fd); }
    }

    private static JsonElement[] Ranges(MountedFileSystem fs, string? target = null)
    {
        using var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "poison", "list", target ?? fs.Path, "--json").Out);
        return doc.RootElement.GetProperty("ranges").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static void AssertPagesReadBack(MountedFileSystem fs, string rel, byte[] data, params int[] poisonedPages)
    {
        for (int p = 0; p < data.Length / Page; p++)
        {
            var (got, errno) = ReadPage(fs[rel], (long)p * Page);
            if (poisonedPages.Contains(p)) Assert.Equal(EIO, errno);
            else
            {
                Assert.True(errno == 0, $"page {p} of {rel}: errno {errno}{fs.LogTail()}");
                Assert.Equal(data.AsSpan(p * Page, Page).ToArray(), got);
            }
        }
    }

    [SkippableFact]
    public void ReadsFailExactlyOnThePoisonedPageUntilItIsRewrittenZeroedOrPunched()
    {
        using var fs = new MountedFileSystem("64M");
        var data = new byte[256 * Page];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(fs["f"], data);
        File.WriteAllBytes(fs["other"], data[..(8 * Page)]);

        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{PhysOf(fs, "f", 10 * Page) + 100}:64");
        AssertPagesReadBack(fs, "f", data, 10);
        Assert.Equal(data[..(8 * Page)], File.ReadAllBytes(fs["other"])); // the daemon is up, other files unaffected
        var range = Assert.Single(Ranges(fs));
        var owner = Assert.Single(range.GetProperty("owners").EnumerateArray());
        Assert.Equal("/f", owner.GetProperty("path").GetString());
        Assert.Equal(10 * Page, owner.GetProperty("file_offset").GetInt64());
        Assert.Contains("poison in inode", File.ReadAllText(fs.LogFile), StringComparison.Ordinal);

        // The list survives a remount (the emulated device keeps it in IMAGE.poison).
        fs.Remount();
        Assert.Single(Ranges(fs));
        AssertPagesReadBack(fs, "f", data, 10);

        // A partial overwrite would need the bad bytes: EIO; a whole page clears it.
        Assert.Equal(EIO, WriteAt(fs["f"], 10 * Page + 8, new byte[16]));
        Assert.Equal(0, WriteAt(fs["f"], 10 * Page, data.AsSpan(10 * Page, Page).ToArray()));
        Assert.Empty(Ranges(fs));
        AssertPagesReadBack(fs, "f", data);

        // Zero range and punch clear it too (xfs_io, as a user would).
        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{PhysOf(fs, "f", 20 * Page)}:{Page}");
        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{PhysOf(fs, "f", 30 * Page)}:{Page}");
        AssertPagesReadBack(fs, "f", data, 20, 30);
        Proc.Check("xfs_io", "-c", $"fzero {20 * Page} {Page}", "-c", $"fpunch {30 * Page} {Page}", fs["f"]);
        Assert.Empty(Ranges(fs));
        Array.Clear(data, 20 * Page, Page);
        Array.Clear(data, 30 * Page, Page);
        AssertPagesReadBack(fs, "f", data);

        // A reader that keeps the file open had page 50 in the kernel's cache: poison found later
        // drops it there too, so the open descriptor reads EIO as well.
        int held = Native.open(fs["f"], Native.O_RDONLY, 0);
        try
        {
            Assert.Equal(0, PreadErrno(held, 50 * Page));
            Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{PhysOf(fs, "f", 50 * Page)}:512");
            Assert.Equal(EIO, PreadErrno(held, 50 * Page));
            Assert.Equal(0, PreadErrno(held, 51 * Page));
        }
        finally { Native.close(held); }
        Assert.Equal(0, WriteAt(fs["f"], 50 * Page, data.AsSpan(50 * Page, Page).ToArray()));

        // Poison the file system was not told of: the read that touches it finds it.
        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--quiet", "--range", $"{PhysOf(fs, "f", 40 * Page)}:512");
        Assert.Empty(Ranges(fs));
        Assert.Equal(EIO, ReadPage(fs["f"], 40 * Page).Errno);
        Assert.Single(Ranges(fs));

        fs.Unmount();
        var check = fs.Fsck();
        Assert.True(check.Ok, check.ToString());
        Assert.Contains("reads EIO", check.Out, StringComparison.Ordinal); // fsck reports the poisoned file range
    }

    [SkippableFact]
    public void PoisonedMetadataRefusesWritesUntilFsckRepair()
    {
        using var fs = new MountedFileSystem("64M");
        File.WriteAllText(fs["a"], "kept");
        long inodeTable;
        using (var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "rmap", fs.Path, "--json").Out))
            inodeTable = doc.RootElement.GetProperty("owners").EnumerateArray().First(o => o.GetProperty("kind").GetString() == "inode table").GetProperty("physical").GetInt64();
        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{inodeTable + 64 * 1024}:512");

        var list = Proc.Check(fs.Cli, "poison", "list", fs.Path).Out;
        Assert.Contains("writes refused", list, StringComparison.Ordinal);
        var ex = Assert.ThrowsAny<IOException>(() => File.WriteAllText(fs["b"], "new"));
        Assert.Contains("Read-only", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("kept", File.ReadAllText(fs["a"])); // reads go on
        Assert.Contains("fsck --repair", File.ReadAllText(fs.LogFile), StringComparison.Ordinal);

        fs.Unmount();
        var check = fs.Fsck();
        Assert.False(check.Ok);
        Assert.Contains("poisoned inode table", check.Out, StringComparison.Ordinal);
        var repair = Proc.Run(fs.Cli, ["fsck", "--repair", fs.Image]);
        Assert.Equal(1, repair.ExitCode); // repaired
        Assert.True(fs.Fsck().Ok);
        fs.Mount();
        File.WriteAllText(fs["b"], "new");
        Assert.Equal("kept", File.ReadAllText(fs["a"]));
        Assert.Empty(Ranges(fs));
        fs.Unmount();
        Assert.True(fs.Fsck().Ok);
    }

    [SkippableFact]
    public void OnlyRootMayListInjectOrClearAndBadArgumentsAreRefusedClearly()
    {
        using var fs = new MountedFileSystem("64M");
        File.WriteAllBytes(fs["f"], new byte[8 * Page]);
        var nobody = Proc.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", fs.Cli, "poison", "list", fs.Path]);
        Assert.False(nobody.Ok);
        Assert.Contains("CAP_SYS_ADMIN", nobody.Err, StringComparison.Ordinal);
        var outside = Proc.Run(fs.Cli, ["poison", "inject", fs.Path, "--range", "1G:4K"]);
        Assert.False(outside.Ok);
        Assert.Contains("not inside the region", outside.Err, StringComparison.Ordinal);
        Proc.Check(fs.Cli, "poison", "inject", fs.Path, "--range", $"{PhysOf(fs, "f", 0)}:512");
        var refused = Proc.Run(fs.Cli, ["poison", "clear", fs.Path, "--range", $"{PhysOf(fs, "f", 0)}:512"]);
        Assert.False(refused.Ok);
        Assert.Contains("--discard-data", refused.Err, StringComparison.Ordinal);
        Proc.Check(fs.Cli, "poison", "clear", fs.Path, "--range", $"{PhysOf(fs, "f", 0)}:512", "--discard-data");
        Assert.Empty(Ranges(fs));
        Assert.Equal(new byte[8 * Page], File.ReadAllBytes(fs["f"]));
        fs.Unmount();
        Assert.True(fs.Fsck().Ok);
    }
}

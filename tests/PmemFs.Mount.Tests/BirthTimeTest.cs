namespace PmemFs.Mount.Tests;

/// <summary>
/// statx(2)'s birth time: the engine keeps one for every inode, and the kernel transport answers
/// FUSE_STATX with it, so `stat` shows when a file was created; it survives writes, chmod,
/// rename and remount. libfuse 3.14's loop has no statx: there the kernel reports no birth time.
/// </summary>
public class BirthTimeTest
{
    [SkippableFact]
    public void AFilesBirthTimeIsItsCreationAndNeverMoves()
    {
        using var fs = new MountedFileSystem();
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        File.WriteAllText(fs["f"], "a");
        Directory.CreateDirectory(fs["d"]);
        long after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        long born = Birth(fs["f"]);
        Assert.InRange(born, before, after);
        Assert.InRange(Birth(fs["d"]), before, after);

        Thread.Sleep(1100);
        File.AppendAllText(fs["f"], "b");
        File.SetUnixFileMode(fs["f"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(fs["f"], fs["d/g"]);
        Assert.Equal(born, Birth(fs["d/g"]));
        Assert.True(Mtime(fs["d/g"]) > born, "the write moved mtime past the birth time");

        fs.Remount();
        Assert.Equal(born, Birth(fs["d/g"]));
    }

    [SkippableFact]
    public void TheLibfuseTransportReportsNoBirthTime()
    {
        using var fs = new MountedFileSystem(options: "fuse_transport=libfuse");
        File.WriteAllText(fs["f"], "a");
        Assert.Equal(0, Birth(fs["f"])); // stat prints 0 when statx did not return STATX_BTIME
    }

    private static long Birth(string path) => long.Parse(Proc.Check("stat", "-c", "%W", path).Out.Trim());

    private static long Mtime(string path) => long.Parse(Proc.Check("stat", "-c", "%Y", path).Out.Trim());
}

using System.Diagnostics;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// The randomized model test (<see cref="FileModel"/>): on a mounted PmemFs with an unmount +
/// remount halfway and unmount, fsck, remount at the end; and on the kernel's tmpfs, which
/// proves the model itself. PMEMFS_MODEL_SEED and PMEMFS_MODEL_OPS pick any run by hand.
/// </summary>
public class ModelTest(ITestOutputHelper output)
{
    private const int CiSeed = 20261130;
    private const int CiOps = 3000;

    [SkippableFact]
    public void ModelTest_OnPmemFs()
    {
        using var fs = new MountedFileSystem();
        int seed = FileModel.SeedFromEnvironment(CiSeed);
        int ops = FileModel.OpsFromEnvironment(CiOps);
        var sw = Stopwatch.StartNew();
        string dir = fs["model"];
        Directory.CreateDirectory(dir);
        FileModel.Run(dir, seed, ops, new ModelOptions
        {
            Halfway = fs.Remount,
            AtEnd = () =>
            {
                fs.Unmount();
                var r = fs.Fsck();
                Assert.True(r.ExitCode == 0, "fsck after the model run is not clean:\n" + r);
                fs.Mount();
            },
            Diagnostics = () => fs.LogTail(),
            Log = output.WriteLine,
        });
        output.WriteLine($"model on pmemfs: {ops} ops in {sw.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void ModelTest_OnTmpfs()
    {
        string dir = Path.Combine("/dev/shm", "pmemfs-model-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            int seed = FileModel.SeedFromEnvironment(CiSeed);
            int ops = FileModel.OpsFromEnvironment(CiOps);
            var sw = Stopwatch.StartNew();
            // FlagsOptional: without CAP_LINUX_IMMUTABLE the kernel refuses chattr +i/+a on tmpfs;
            // the model then runs without its flag steps (and says so in the log).
            FileModel.Run(dir, seed, ops, new ModelOptions { ZeroRangeSupported = false, MmapReadAllocates = true, FlagsOptional = true, Log = output.WriteLine });
            output.WriteLine($"model on tmpfs: {ops} ops in {sw.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            FileModel.ClearFlagsBestEffort(dir); // an immutable or append-only file cannot be deleted
            Directory.Delete(dir, recursive: true);
        }
    }
}

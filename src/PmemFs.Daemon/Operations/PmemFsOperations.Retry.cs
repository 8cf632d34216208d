using PmemFs.Engine;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// Layout changes that recall leases (docs/leases.md, "The non-blocking shape"): the engine
/// answers <see cref="Errno.RetryAfterRecall"/> and changes nothing; the request is parked, not
/// answered, while the loop goes on serving others. When the recall ends (the holders released,
/// or the break time passed and they were revoked) the same engine call is issued again on a
/// pool thread and the reply is sent from there (libfuse replies are thread-safe).
/// </summary>
public sealed partial class PmemFsOperations
{
    private int _parked;

    /// <summary>Requests waiting for a recall now (tests, logs).</summary>
    public int Parked => Volatile.Read(ref _parked);

    /// <summary>Waits until no request is parked (the end of the session); false if some still are after <paramref name="limit"/>.</summary>
    public bool WaitForParked(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (Parked > 0)
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(5);
        }
        return true;
    }

    /// <summary>
    /// Waits off the loop for the recalls of <paramref name="ino"/> (null: of every file, for
    /// unlink and rename, which name no inode) to end, then calls <paramref name="attempt"/> again
    /// until it no longer answers RetryAfterRecall, and hands its answer to <paramref name="reply"/>.
    /// Everything the two delegates use must be copied out of the request first: its buffers
    /// belong to the loop and are gone once the callback returns.
    /// </summary>
    private void Park(FuseRequest req, string what, ulong? ino, Func<Errno> attempt, Action<Errno> reply)
    {
        Interlocked.Increment(ref _parked);
        _log.Info($"{what}{(ino is ulong i ? $" of inode {i}" : "")} by pid {req.Context.Pid} waits for a lease recall (break time {_fs.Leases.BreakTime.TotalSeconds} s)");
        _ = Task.Run(async () =>
        {
            try
            {
                for (int round = 0; ; round++)
                {
                    await (ino is ulong one ? _fs.Leases.WhenBreaksEnd(one) : _fs.Leases.WhenBreaksEnd()).ConfigureAwait(false);
                    var errno = attempt();
                    if (errno != Errno.RetryAfterRecall)
                    {
                        reply(errno);
                        return;
                    }
                    // A retry that touches a new range recalls again (docs/leases.md); never spin.
                    if (round > 0) await Task.Delay(1).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                OnUnhandledException(what, e);
                req.ReplyError(Errno.EIO.Value);
            }
            finally { Interlocked.Decrement(ref _parked); }
        });
    }
}

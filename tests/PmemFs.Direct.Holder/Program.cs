using PmemFs.Direct;

// PmemFs.Direct.Holder FILE SIZE [--pin OFFSET LENGTH] [--release-on-recall]
//   Opens FILE of a PmemFs mount for direct access, takes a write lease on the whole file, maps
//   [0, SIZE) for writing (growing the file), stores a pattern (byte i = i * 7 + 1) and persists
//   it, pins a range if asked, prints "ready PID", then reports, one line each: "recalled MS_LEFT",
//   "released" (with --release-on-recall: it gives the lease back when recalled), "revoked".
//   Reads commands on stdin: "store OFFSET LENGTH VALUE" (stores and persists LENGTH bytes of VALUE;
//   prints "stored" or "error MESSAGE"); exits at EOF, giving everything back.
if (args.Length < 2) { Console.Error.WriteLine("usage: PmemFs.Direct.Holder FILE SIZE [--pin OFFSET LENGTH] [--release-on-recall]"); return 2; }
string path = args[0];
long size = long.Parse(args[1]);
int pinAt = Array.IndexOf(args, "--pin");
bool releaseOnRecall = args.Contains("--release-on-recall");
Console.Out.Flush();
var output = Console.Out;
void Say(string line)
{
    lock (output) { output.WriteLine(line); output.Flush(); }
}

try
{
    using var file = DirectFile.Open(path);
    var lease = file.AcquireLease(LeaseMode.Write);
    lease.Recalled += (_, e) =>
    {
        Say($"recalled {(long)(e.Deadline - DateTimeOffset.UtcNow).TotalMilliseconds}");
        if (releaseOnRecall)
        {
            e.Lease.Dispose();
            Say("released");
        }
    };
    lease.Revoked += (_, _) => Say("revoked");
    var map = lease.MapForWrite(0, size, extendSize: true);
    var pattern = new byte[size];
    for (long i = 0; i < size; i++) pattern[i] = (byte)(i * 7 + 1);
    map.Store(0, pattern);
    LeasePin? pin = pinAt > 0 ? lease.Pin(long.Parse(args[pinAt + 1]), long.Parse(args[pinAt + 2])) : null;
    Say($"ready {Environment.ProcessId}");
    string? command;
    while ((command = Console.In.ReadLine()) is not null)
    {
        var w = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (w is ["store", var off, var len, var value])
        {
            try
            {
                var data = new byte[int.Parse(len)];
                Array.Fill(data, byte.Parse(value));
                map.Store(long.Parse(off), data);
                Say("stored");
            }
            catch (Exception e) { Say($"error {e.Message}"); }
        }
    }
    pin?.Dispose();
    map.Dispose();
    lease.Dispose();
    return 0;
}
catch (DirectAccessException e)
{
    Say($"error {e.Message}");
    return 1;
}

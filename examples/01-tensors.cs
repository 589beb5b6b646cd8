#:project ../src/Ember/Ember.csproj
// Chapter 1: tensors. Creation, broadcasting, views that share storage, and a matrix product.
using Ember;

var a = Tensor.Arange(6).Reshape(2, 3);          // [[0, 1, 2], [3, 4, 5]]
var b = Tensor.FromArray(new float[] { 10, 20, 30 });
Console.WriteLine(a.Add(b));                      // broadcasting: b is added to each row
var t = a.T;                                      // a view: same storage, strides swapped
Console.WriteLine($"a {string.Join("x", a.Shape)} strides [{string.Join(", ", a.Strides)}]; aᵀ strides [{string.Join(", ", t.Strides)}], shares storage: {t.SharesStorageWith(a)}");
var p = a.Matmul(t);                              // (2×3)·(3×2)
Console.WriteLine(p);
// Row sums and the largest element of each row.
Console.WriteLine($"row sums {string.Join(", ", a.Sum(1).ToArray<float>())}; row max {string.Join(", ", a.Amax([1]).ToArray<float>())}");
if (p.ToArray<float>()[3] != 50) throw new Exception("expected (a·aᵀ)[1,1] = 3² + 4² + 5² = 50");
Console.WriteLine("ok");

<?php
$title = "buildspec static site";
$items = ["fast", "small", "reproducible"];
?>
<!doctype html>
<html>
<head><title><?= htmlspecialchars($title) ?></title><link rel="stylesheet" href="css/main.css"></head>
<body>
<h1><?= htmlspecialchars($title) ?></h1>
<ul>
<?php foreach ($items as $item): ?>
<li><?= htmlspecialchars($item) ?></li>
<?php endforeach; ?>
</ul>
</body>
</html>
